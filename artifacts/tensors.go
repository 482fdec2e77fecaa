package artifacts

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"

	"github.com/nlpodyssey/gopickle/types"
)

// TensorDigest is one tensor of a checkpoint's payload and the SHA-256 of its values.
//
// The digest is of the bytes the tensor's view covers, element by element in row-major order
// (what `t.contiguous()`'s bytes are in torch), not of its storage: two tensors that share a
// storage (a view, tied weights, a flat parameter buffer) each get the digest of their own
// elements, so a difference is charged to the tensor whose values differ, and each byte of a
// storage is read about once however many views share it. Shape and dtype are kept beside it.
// One exception keeps the time linear: a view that is not one run of its storage (transposed,
// strided) and spans more than 16 MiB of it is Spanned, its digest that of its offset, shape and
// stride and of the storage bytes it spans.
type TensorDigest struct {
	Name    string // its path in the payload: "unet.conv_in.weight", "optimizer.state.0.exp_avg"
	DType   string // "float32"
	Shape   []int64
	SHA256  string // hex
	Spanned bool   `json:",omitempty"` // the digest is of the storage bytes the view spans, with its geometry
}

// TensorDigests reads a torch.save checkpoint and returns, for each tensor of its payload in
// pickle order, its name, dtype, shape and digest. The tensor bytes are streamed through a
// 64 KiB window (a strided view that spans at most 16 MiB is read at once): memory does not grow
// with the checkpoint's size, and the bytes read are bounded (checkViewBytes). Storages must be stored
// uncompressed, as torch.save stores them; the zip's CRCs are not checked.
func TensorDigests(path string) ([]TensorDigest, error) {
	f, size, err := openFile(path, "tensor digests")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := openArchive(path, f, size)
	if err != nil {
		return nil, err
	}
	p, err := a.payload()
	if err != nil {
		return nil, err
	}
	if err := a.sizeStorages(p.Storages); err != nil {
		return nil, err
	}
	var named []namedTensor
	budget := maxNodes
	for _, k := range p.Keys {
		if named, err = collectTensors(named, k, p.Raw[k], 0, &budget); err != nil {
			return nil, fmt.Errorf("%s: %s: %v", path, k, err)
		}
	}
	if err := checkViewBytes(named, size); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	w := &window{buf: make([]byte, 64<<10)}
	out := make([]TensorDigest, 0, len(named))
	for _, nt := range named {
		d, spanned, err := a.digest(w, nt.t)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %v", path, clip(nt.name, LineClip), err)
		}
		out = append(out, TensorDigest{Name: nt.name, DType: nt.t.Storage.DType, Shape: nt.t.Shape, SHA256: d, Spanned: spanned})
	}
	return out, nil
}

type namedTensor struct {
	name string
	t    *Tensor
}

// checkViewBytes bounds the bytes hashing the views reads: at most twice the checkpoint's size
// plus 64 MiB. A view may repeat its storage's elements (stride 0, a broadcast), and strided
// views may each span a whole storage, so a valid checkpoint could otherwise ask for terabytes.
func checkViewBytes(named []namedTensor, size int64) error {
	limit, total := 2*size+64<<20, int64(0)
	for _, nt := range named {
		n, ok := int64(0), true
		if typ, known := storageTypes[nt.t.Storage.Type]; known {
			n = typ.size
			for _, d := range nt.t.Shape {
				if n, ok = mulInt64(n, d); !ok {
					break
				}
			}
			n += viewSpan(nt.t) * typ.size // a view that is not one run also reads what it spans
		}
		if total += n; !ok || n > limit || total > limit {
			return fmt.Errorf("tensor %s (shape %v): hashing the tensors up to it reads more than %d bytes, twice the checkpoint's size plus 64 MiB", clip(nt.name, LineClip), nt.t.Shape, limit)
		}
	}
	return nil
}

// collectTensors appends the tensors under v, named by their path from the payload's top
// (dict keys and list indexes joined by "."), in pickle order; bounded as convert is.
func collectTensors(out []namedTensor, name string, v any, depth int, budget *int) ([]namedTensor, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("more than %d values", maxNodes)
	}
	var err error
	each := func(key string, v any) {
		if err == nil {
			out, err = collectTensors(out, name+"."+key, v, depth+1, budget)
		}
	}
	switch x := v.(type) {
	case *Tensor:
		return append(out, namedTensor{name, x}), nil
	case *types.Dict:
		for _, e := range *x {
			each(keyString(e.Key), e.Value)
		}
	case *types.OrderedDict:
		for el := x.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			each(keyString(e.Key), e.Value)
		}
	case *types.List:
		for i, e := range *x {
			each(strconv.Itoa(i), e)
		}
	case *types.Tuple:
		for i, e := range *x {
			each(strconv.Itoa(i), e)
		}
	case *Object:
		for i, e := range x.Args {
			each(strconv.Itoa(i), e)
		}
		if err == nil {
			out, err = collectTensors(out, name, x.State, depth+1, budget)
		}
	case map[string]any: // a converted field (config, scaler): no pickle order left, so by key
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			each(k, x[k])
		}
	case []any:
		for i, e := range x {
			each(strconv.Itoa(i), e)
		}
	}
	return out, err
}

// digest hashes the elements of t's view, in row-major order, from its storage's entry; or, for
// a view that is not one run and spans more than maxViewSpan bytes, the bytes it spans with its
// geometry (spanned).
func (a *archive) digest(w *window, t *Tensor) (sha string, spanned bool, err error) {
	s := t.Storage
	typ, ok := storageTypes[s.Type]
	if !ok {
		return "", false, fmt.Errorf("storage %s: type %s has no known element size", s.Key, s.Type)
	}
	e := a.entries[a.top+"/data/"+s.Key]
	if e.Method != zip.Store || e.CompressedSize64 != e.UncompressedSize64 {
		return "", false, fmt.Errorf("%s/data/%s: compressed (zip method %d); torch.save stores tensor bytes uncompressed", a.top, s.Key, e.Method)
	}
	off, err := e.DataOffset()
	if err != nil {
		return "", false, fmt.Errorf("%s/data/%s: %v", a.top, s.Key, err)
	}
	w.reset(io.NewSectionReader(a.r, off, int64(e.UncompressedSize64)))
	h := sha256.New()
	span := viewSpan(t)
	switch spanned = span*typ.size > maxViewSpan; {
	case spanned:
		fmt.Fprintf(h, "spanned offset=%d shape=%v stride=%v\n", t.Offset, t.Shape, t.Stride)
		err = w.copyTo(h, t.Offset*typ.size, span*typ.size)
	case span > 1:
		// The view reads its storage out of order: read what it spans once.
		if err = w.fill(t.Offset*typ.size, span*typ.size); err == nil {
			err = eachRun(t, func(start, n int64) error { return w.copyTo(h, start*typ.size, n*typ.size) })
		}
	default:
		err = eachRun(t, func(start, n int64) error { return w.copyTo(h, start*typ.size, n*typ.size) })
	}
	if err != nil {
		return "", false, fmt.Errorf("%s/data/%s: %v", a.top, s.Key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), spanned, nil
}

// maxViewSpan bounds the bytes read at once for a view that is not one run of its storage (a
// transposed or strided view). Hashing a larger one's values in row-major order would read its
// storage once per run through a bounded window, quadratic in its size; its digest is of what it
// spans instead, as both runs of a comparison compute it alike.
var maxViewSpan int64 = 16 << 20

// viewSpan is the number of storage elements from t's first to its last when t is not one run
// of consecutive elements, else 0.
func viewSpan(t *Tensor) int64 {
	runs, span := 0, int64(1)
	_ = eachRun(t, func(start, n int64) error {
		if runs++; runs > 1 {
			return io.EOF
		}
		return nil
	})
	if runs <= 1 {
		return 0
	}
	for i := range t.Shape {
		span += (t.Shape[i] - 1) * t.Stride[i] // rebuildTensor checked it fits the storage
	}
	return span
}

// eachRun calls fn with each run of consecutive storage elements t's view covers, in row-major
// order: the innermost dimensions whose strides make them contiguous form one run.
func eachRun(t *Tensor, fn func(start, n int64) error) error {
	k, run := len(t.Shape), int64(1)
	for _, n := range t.Shape {
		if n == 0 {
			return nil
		}
	}
	for k > 0 && (t.Shape[k-1] == 1 || t.Stride[k-1] == run) {
		run *= t.Shape[k-1]
		k--
	}
	idx := make([]int64, k)
	for {
		start := t.Offset
		for i := range idx {
			start += idx[i] * t.Stride[i]
		}
		if err := fn(start, run); err != nil {
			return err
		}
		i := k - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < t.Shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return nil
		}
	}
}

// window reads an entry through one buffer: runs that follow each other in the entry are
// served from it, so a view of many short runs does not cost a read each.
type window struct {
	r          *io.SectionReader
	buf        []byte
	start, end int64 // the entry's bytes [start, end) are in buf[:end-start]
}

func (w *window) reset(r *io.SectionReader) { w.r, w.start, w.end = r, 0, 0 }

// fill reads the entry's bytes [off, off+n) into the window, growing it to n.
func (w *window) fill(off, n int64) error {
	if int64(len(w.buf)) < n {
		w.buf = make([]byte, n)
	}
	m, err := w.r.ReadAt(w.buf[:n], off)
	if int64(m) < n {
		return fmt.Errorf("read %d bytes at byte %d: %v", n, off, err)
	}
	w.start, w.end = off, off+n
	return nil
}

// copyTo writes the entry's bytes [off, off+n) to h.
func (w *window) copyTo(h hash.Hash, off, n int64) error {
	for n > 0 {
		if off < w.start || off >= w.end {
			m, err := w.r.ReadAt(w.buf, off)
			if m == 0 {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("read at byte %d: %v", off, err)
			}
			w.start, w.end = off, off+int64(m)
		}
		chunk := min(n, w.end-off)
		h.Write(w.buf[off-w.start : off-w.start+chunk])
		off += chunk
		n -= chunk
	}
	return nil
}
