package artifacts

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/internal/printable"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// MaxPickleBytes bounds data.pkl: the payload's structure without the tensor bytes. A
// Stable Diffusion UNet's state dict and its optimizer state pickle to well under 1 MiB (an SDXL
// UNet's, with EMA, to about 2 MiB). Decoding also allocates per opcode, which MaxPickleOps
// bounds: 64 MiB of empty dicts once took 14 GB.
const MaxPickleBytes = 16 << 20

// Checkpoint is what ReadCheckpoint found in a checkpoint-<N>.pt written by torch.save.
type Checkpoint struct {
	Path       string
	Top        string // the archive's one top folder: the file's stem, or "archive" (torch.save to a file object)
	GlobalStep int
	Precision  string
	Scaler     map[string]any // the GradScaler state dict; nil when the payload's scaler is None
	HasScaler  bool           // scaler is a dict (it may be empty)
	Config     map[string]any // the resolved config the run used
	Keys       []string       // the payload's top-level keys, in pickle order
	Storages   []Storage      // tensor storages the payload references, in first-reference order
	Tensors    int            // tensors rebuilt (views included)
	Notes      []string       // findings that are not errors, e.g. a top folder that is not the stem
}

// Storage is one tensor storage: the archive entry <top>/data/<Key> holds its bytes.
type Storage struct {
	Key    string
	Type   string // torch's storage class, e.g. "FloatStorage"
	DType  string // "float32"; "" for a storage class this package does not know
	Device string // where it was saved from: "cpu", "cuda:0"
	Numel  int64  // elements
	Bytes  int64  // size of the archive entry: Numel times the dtype's item size
}

// storageTypes maps torch's storage classes to dtype names and item sizes.
var storageTypes = map[string]struct {
	dtype string
	size  int64
}{
	"FloatStorage":           {"float32", 4},
	"DoubleStorage":          {"float64", 8},
	"HalfStorage":            {"float16", 2},
	"BFloat16Storage":        {"bfloat16", 2},
	"LongStorage":            {"int64", 8},
	"IntStorage":             {"int32", 4},
	"ShortStorage":           {"int16", 2},
	"CharStorage":            {"int8", 1},
	"ByteStorage":            {"uint8", 1},
	"BoolStorage":            {"bool", 1},
	"ComplexFloatStorage":    {"complex64", 8},
	"ComplexDoubleStorage":   {"complex128", 16},
	"QInt8Storage":           {"qint8", 1},
	"QUInt8Storage":          {"quint8", 1},
	"QInt32Storage":          {"qint32", 4},
	"QUInt4x2Storage":        {"quint4x2", 1},
	"QUInt2x4Storage":        {"quint2x4", 1},
	"Float8_e4m3fnStorage":   {"float8_e4m3fn", 1},
	"Float8_e5m2Storage":     {"float8_e5m2", 1},
	"Float8_e4m3fnuzStorage": {"float8_e4m3fnuz", 1},
	"Float8_e5m2fnuzStorage": {"float8_e5m2fnuz", 1},
	"UInt16Storage":          {"uint16", 2},
	"UInt32Storage":          {"uint32", 4},
	"UInt64Storage":          {"uint64", 8},
}

var checkpointName = regexp.MustCompile(`^checkpoint-([0-9]+)\.pt$`)

// ReadCheckpoint reads a torch.save zip checkpoint's payload without its tensor bytes, and
// checks that every storage it references is in the archive with the right size.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, size, err := openFile(path, "read checkpoint")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCheckpointFrom(path, f, size)
}

// openFile opens a file that is not a directory and returns its size; doing says what for, in errors.
func openFile(path, doing string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", doing, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", doing, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s %s: is a directory", doing, path)
	}
	return f, st.Size(), nil
}

// ReadCheckpointFrom is ReadCheckpoint over any io.ReaderAt; name is the file named in errors
// and whose stem the top folder is compared with.
func ReadCheckpointFrom(name string, r io.ReaderAt, size int64) (*Checkpoint, error) {
	a, err := openArchive(name, r, size)
	if err != nil {
		return nil, err
	}
	p, err := a.payload()
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Path: name, Top: a.top, Notes: a.notes}
	if err := ck.fill(p); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if err := a.sizeStorages(ck.Storages); err != nil {
		return nil, err
	}
	return ck, nil
}

// archive is a torch.save zip archive, opened: its one top folder and its entries by name.
type archive struct {
	name    string
	r       io.ReaderAt
	top     string
	entries map[string]*zip.File
	notes   []string
}

// openArchive reads the zip's directory and checks that every entry lies in one top folder.
func openArchive(name string, r io.ReaderAt, size int64) (*archive, error) {
	if err := checkZipDirectory(name, r, size); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		if size >= 2 {
			var magic [2]byte
			if _, err := r.ReadAt(magic[:], 0); err == nil && magic == [2]byte{0x80, 0x02} {
				return nil, fmt.Errorf("%s: not a zip archive: a legacy (pre-1.6, _use_new_zipfile_serialization=False) torch.save file, which this reader does not read", name)
			}
		}
		return nil, fmt.Errorf("%s: not a torch zip archive: %v", name, err)
	}
	a := &archive{name: name, r: r, entries: map[string]*zip.File{}}
	for _, f := range zr.File {
		top, _, ok := strings.Cut(f.Name, "/")
		if !ok || top == "" {
			return nil, fmt.Errorf("%s: entry %q: not inside a top folder", name, f.Name)
		}
		if a.top == "" {
			a.top = top
		} else if top != a.top {
			return nil, fmt.Errorf("%s: entry %q: a second top folder besides %q", name, f.Name, a.top)
		}
		a.entries[f.Name] = f
	}
	if a.top == "" {
		return nil, fmt.Errorf("%s: empty zip archive", name)
	}
	if stem := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)); a.top != stem {
		a.notes = append(a.notes, fmt.Sprintf("top folder %q is not the file's stem %q", a.top, stem))
	}
	return a, nil
}

// payload reads and decodes <top>/data.pkl.
func (a *archive) payload() (*Payload, error) {
	pkl := a.entries[a.top+"/data.pkl"]
	if pkl == nil {
		return nil, fmt.Errorf("%s: %s/data.pkl: missing", a.name, a.top)
	}
	if pkl.UncompressedSize64 > MaxPickleBytes {
		return nil, fmt.Errorf("%s: %s/data.pkl: %d bytes, over the %d-byte limit", a.name, a.top, pkl.UncompressedSize64, MaxPickleBytes)
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %s/data.pkl: %v", a.name, a.top, err)
	}
	data, err := io.ReadAll(io.LimitReader(rc, MaxPickleBytes+1))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %s/data.pkl: %v", a.name, a.top, err)
	}
	p, err := DecodePayload(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s/data.pkl: %v", a.name, a.top, err)
	}
	return p, nil
}

// sizeStorages checks that each storage's entry <top>/data/<key> is there and holds numel
// elements of its dtype, and sets Bytes.
func (a *archive) sizeStorages(storages []Storage) error {
	for i := range storages {
		s := &storages[i]
		e := a.entries[a.top+"/data/"+s.Key]
		if e == nil {
			return fmt.Errorf("%s: %s/data/%s: missing (storage %s of %d elements)", a.name, a.top, s.Key, s.Type, s.Numel)
		}
		if e.UncompressedSize64 > math.MaxInt64 {
			return fmt.Errorf("%s: %s/data/%s: size %d out of range", a.name, a.top, s.Key, e.UncompressedSize64)
		}
		s.Bytes = int64(e.UncompressedSize64)
		if t, ok := storageTypes[s.Type]; ok {
			want, ok := mulInt64(s.Numel, t.size)
			if !ok {
				return fmt.Errorf("%s: %s/data/%s: %d %s elements overflow a size", a.name, a.top, s.Key, s.Numel, t.dtype)
			}
			if s.Bytes != want {
				return fmt.Errorf("%s: %s/data/%s: %d bytes, want %d (%d %s elements)", a.name, a.top, s.Key, s.Bytes, want, s.Numel, t.dtype)
			}
		}
	}
	return nil
}

// fill takes the contract's fields out of the decoded payload.
func (ck *Checkpoint) fill(p *Payload) error {
	ck.Keys = p.Keys
	ck.Storages = p.Storages
	ck.Tensors = p.Tensors
	d := p.Dict
	v, ok := d["global_step"]
	if !ok {
		return errors.New("global_step: missing")
	}
	step, ok := asInt(v)
	if !ok || step < 0 || step > math.MaxInt32 {
		return fmt.Errorf("global_step: want a non-negative int, got %s %s", typeName(v), brief(v))
	}
	ck.GlobalStep = int(step)
	if ck.Precision, ok = d["precision"].(string); !ok {
		if _, there := d["precision"]; !there {
			return errors.New("precision: missing")
		}
		return fmt.Errorf("precision: want str, got %s", typeName(d["precision"]))
	}
	scaler, there := d["scaler"]
	if !there {
		return errors.New("scaler: missing (want a dict or None)")
	}
	switch s := scaler.(type) {
	case nil:
	case map[string]any:
		ck.Scaler, ck.HasScaler = s, true
	default:
		return fmt.Errorf("scaler: want a dict or None, got %s", typeName(scaler))
	}
	cfg, there := d["config"]
	if !there {
		return errors.New("config: missing")
	}
	if ck.Config, ok = cfg.(map[string]any); !ok {
		return fmt.Errorf("config: want a dict, got %s", typeName(cfg))
	}
	for _, k := range []string{"unet", "optimizer"} {
		if _, there := d[k]; !there {
			return fmt.Errorf("%s: missing", k)
		}
	}
	return nil
}

// CheckCheckpoint reads a checkpoint and checks it against the run: global_step is step (and
// the N of a checkpoint-N.pt name), precision is the one the run used, the scaler is a dict
// for fp16 and None otherwise, and config equals the resolved config (when resolved is not nil).
func CheckCheckpoint(path string, step int, precision string, resolved map[string]any) (*Checkpoint, error) {
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if m := checkpointName.FindStringSubmatch(filepath.Base(path)); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n != step {
			return ck, fmt.Errorf("%s: file name says step %d, want checkpoint-%d.pt", path, n, step)
		}
	}
	if ck.GlobalStep != step {
		return ck, fmt.Errorf("%s: global_step: %d, want %d", path, ck.GlobalStep, step)
	}
	if precision != "" && ck.Precision != precision {
		return ck, fmt.Errorf("%s: precision: %q, want %q", path, ck.Precision, precision)
	}
	switch {
	case ck.Precision == "fp16" && !ck.HasScaler:
		return ck, fmt.Errorf("%s: scaler: None, want GradScaler state for fp16", path)
	case ck.Precision != "fp16" && ck.HasScaler:
		return ck, fmt.Errorf("%s: scaler: a dict of %d keys, want None for %s", path, len(ck.Scaler), ck.Precision)
	}
	if resolved != nil {
		if p, d := firstDifference("", resolved, ck.Config); p != "" {
			return ck, fmt.Errorf("%s: config.%s: %s (compared with the resolved config)", path, p, d)
		}
	}
	return ck, nil
}

// Payload is data.pkl decoded: the top-level dict with its values converted to generic
// trees (map[string]any, []any, string, int, *big.Int, float64, bool, nil, []byte, *Tensor,
// *Object), and the storages the tensors reference.
type Payload struct {
	Dict     map[string]any
	Keys     []string
	Raw      map[string]any // the top-level values as unpickled, before conversion (TensorDigests walks them)
	Storages []Storage
	Tensors  int
}

// Tensor is a tensor as the payload describes it; its bytes stay in the archive.
type Tensor struct {
	Storage *Storage
	Offset  int64
	Shape   []int64
	Stride  []int64
}

// Object is an instance of a class this reader does not model, kept by name.
type Object struct {
	Class string // "module.name"
	Args  []any
	State any
}

// Limits on what a payload may make the decoder build, so a hostile or broken pickle fails
// instead of exhausting the stack, memory or time.
const (
	maxDepth = 100
	maxNodes = 1_000_000
)

// DecodePayload decodes data.pkl. Tensors are rebuilt from their persistent ids only (storage
// key, type, device, numel); nothing is read from data/. It never panics: the pickle is
// checked before it is run, and a panic inside the pickle machine becomes an error.
func DecodePayload(data []byte) (p *Payload, err error) {
	if err := prescanPickle(data); err != nil {
		return nil, err
	}
	d := &decoder{storages: map[string]*Storage{}}
	u := pickle.NewUnpickler(bytes.NewReader(data))
	u.FindClass = d.findClass
	u.PersistentLoad = d.persistentLoad
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("malformed pickle: %s", clip(fmt.Sprint(r), 200))
		}
	}()
	v, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("unpickle: %s", printable.OneLine(err.Error()))
	}
	p = &Payload{}
	switch top := v.(type) {
	case *types.Dict:
		p.Dict = make(map[string]any, len(*top))
		for _, e := range *top {
			k, ok := e.Key.(string)
			if !ok {
				continue
			}
			if _, dup := p.Dict[k]; !dup {
				p.Keys = append(p.Keys, k)
			}
			p.Dict[k] = e.Value
		}
	case *types.OrderedDict:
		p.Dict = map[string]any{}
		for el := top.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			if k, ok := e.Key.(string); ok {
				p.Keys = append(p.Keys, k)
				p.Dict[k] = e.Value
			}
		}
	default:
		return nil, fmt.Errorf("payload: want a dict, got %s", pyTypeName(v))
	}
	p.Raw = maps.Clone(p.Dict)
	// Convert only the small fields; unet and optimizer stay as decoded (their tensors are
	// already rebuilt, which is what checks the storages).
	budget := maxNodes
	for _, k := range []string{"global_step", "precision", "scaler", "config"} {
		if raw, ok := p.Dict[k]; ok {
			if p.Dict[k], err = convert(raw, 0, &budget); err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
		}
	}
	for _, s := range d.order {
		p.Storages = append(p.Storages, *s)
	}
	p.Tensors = d.tensors
	return p, nil
}

// pyTypeName names a decoded pickle value by its Python type.
func pyTypeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *types.List:
		return "list"
	case *types.Tuple:
		return "tuple"
	case *types.Dict, *types.OrderedDict:
		return "dict"
	case *Tensor:
		return "tensor"
	case *Object:
		return x.Class
	default:
		return fmt.Sprintf("%T", v)
	}
}

// convert turns gopickle's values into generic trees, bounded in depth and size.
func convert(v any, depth int, budget *int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("more than %d values", maxNodes)
	}
	switch x := v.(type) {
	case nil, bool, string, float64, []byte, *Tensor, *Storage:
		return x, nil
	case int:
		return x, nil
	case *big.Int:
		if x.IsInt64() {
			return int(x.Int64()), nil
		}
		return x, nil
	case *types.Dict:
		m := make(map[string]any, len(*x))
		for _, e := range *x {
			val, err := convert(e.Value, depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[keyString(e.Key)] = val
		}
		return m, nil
	case *types.OrderedDict:
		m := make(map[string]any, x.Len())
		for el := x.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			val, err := convert(e.Value, depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[keyString(e.Key)] = val
		}
		return m, nil
	case *types.List:
		return convertList(*x, depth, budget)
	case *types.Tuple:
		return convertList(*x, depth, budget)
	case *types.Set:
		l := make([]any, 0, len(*x))
		for k := range *x {
			l = append(l, k)
		}
		return convertList(l, depth, budget)
	case *types.FrozenSet:
		l := make([]any, 0, len(*x))
		for k := range *x {
			l = append(l, k)
		}
		return convertList(l, depth, budget)
	case *Object:
		args, err := convertList(x.Args, depth, budget)
		if err != nil {
			return nil, err
		}
		st, err := convert(x.State, depth+1, budget)
		if err != nil {
			return nil, err
		}
		return &Object{Class: x.Class, Args: args, State: st}, nil
	default:
		return &Object{Class: fmt.Sprintf("%T", v)}, nil
	}
}

func convertList(l []any, depth int, budget *int) ([]any, error) {
	out := make([]any, len(l))
	for i, e := range l {
		c, err := convert(e, depth+1, budget)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case *big.Int:
		return x.String()
	default:
		return fmt.Sprintf("<%s>", pyTypeName(k))
	}
}

// decoder supplies the pickle machine with the few torch classes a checkpoint uses.
type decoder struct {
	storages map[string]*Storage
	order    []*Storage
	tensors  int
}

// callable is a Python callable (a class or function) found by name.
type callable struct {
	name string
	fn   func(args []any) (any, error)
}

func (c *callable) Call(args ...any) (any, error) { return c.fn(args) }
func (c *callable) PyNew(args ...any) (any, error) {
	return c.fn(args)
}

// storageClass is torch.<X>Storage, the type element of a storage's persistent id.
type storageClass struct{ name string }

func (s *storageClass) Call(args ...any) (any, error) {
	return nil, fmt.Errorf("torch.%s called directly; storages come only from persistent ids", s.name)
}

func (d *decoder) findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return &callable{name: name, fn: d.rebuildTensor}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return &callable{name: name, fn: func(args []any) (any, error) {
			if len(args) < 1 {
				return nil, fmt.Errorf("%s: no arguments", name)
			}
			return args[0], nil
		}}, nil
	case "torch.Size":
		return &callable{name: name, fn: func(args []any) (any, error) {
			if len(args) == 1 {
				return args[0], nil
			}
			t := types.Tuple(args)
			return &t, nil
		}}, nil
	case "torch.device":
		return &callable{name: name, fn: func(args []any) (any, error) {
			parts := make([]string, len(args))
			for i, a := range args {
				parts[i] = fmt.Sprint(a)
			}
			return strings.Join(parts, ":"), nil
		}}, nil
	case "_codecs.encode": // protocol 2 pickles bytes as _codecs.encode(str, "latin1")
		return &callable{name: name, fn: func(args []any) (any, error) {
			if len(args) < 1 {
				return nil, errors.New("_codecs.encode: no arguments")
			}
			s, ok := args[0].(string)
			if !ok {
				return nil, errors.New("_codecs.encode: want str")
			}
			b := make([]byte, 0, len(s))
			for _, r := range s {
				if r > 0xff {
					return nil, errors.New("_codecs.encode: not latin-1")
				}
				b = append(b, byte(r))
			}
			return b, nil
		}}, nil
	case "builtins.set", "builtins.frozenset", "__builtin__.set":
		return &callable{name: name, fn: func(args []any) (any, error) {
			s := types.NewSet()
			if len(args) == 1 {
				if l, ok := args[0].(*types.List); ok {
					for _, e := range *l {
						if hashable(e) {
							s.Add(e)
						}
					}
				}
			}
			return s, nil
		}}, nil
	}
	if module == "torch" && strings.HasSuffix(name, "Storage") {
		return &storageClass{name: name}, nil
	}
	class := module + "." + name
	return &callable{name: class, fn: func(args []any) (any, error) {
		return &Object{Class: class, Args: args}, nil
	}}, nil
}

func hashable(v any) bool {
	switch v.(type) {
	case nil, bool, int, float64, string:
		return true
	}
	return false
}

// PySetState lets BUILD set an unmodelled object's state.
func (o *Object) PySetState(state any) error {
	o.State = state
	return nil
}

// persistentLoad records a storage from its id ('storage', <class>, key, location, numel).
func (d *decoder) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("persistent id: want a tuple, got %s", pyTypeName(pid))
	}
	if len(*t) < 5 {
		return nil, fmt.Errorf("persistent id: %d elements, want ('storage', type, key, location, numel)", len(*t))
	}
	if kind, _ := (*t)[0].(string); kind != "storage" {
		return nil, fmt.Errorf("persistent id: kind %s, want 'storage'", brief((*t)[0]))
	}
	var typ string
	switch c := (*t)[1].(type) {
	case *storageClass:
		typ = c.name
	case *callable:
		typ = c.name
	default:
		return nil, fmt.Errorf("persistent id: storage type is a %s, want a torch storage class", pyTypeName(c))
	}
	key, ok := (*t)[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return nil, fmt.Errorf("persistent id: storage key %s is not a plain name", brief((*t)[2]))
	}
	loc, ok := (*t)[3].(string)
	if !ok {
		return nil, fmt.Errorf("persistent id %s: location: want str, got %s", key, pyTypeName((*t)[3]))
	}
	numel, ok := asInt((*t)[4])
	if !ok || numel < 0 {
		return nil, fmt.Errorf("persistent id %s: numel: want a non-negative int, got %s", key, brief((*t)[4]))
	}
	if s, ok := d.storages[key]; ok {
		if s.Type != typ || s.Numel != numel || s.Device != loc {
			return nil, fmt.Errorf("storage %s: referenced as %s[%d] on %s and as %s[%d] on %s", key, s.Type, s.Numel, s.Device, typ, numel, loc)
		}
		return s, nil
	}
	s := &Storage{Key: key, Type: typ, DType: storageTypes[typ].dtype, Device: loc, Numel: numel}
	d.storages[key] = s
	d.order = append(d.order, s)
	return s, nil
}

// rebuildTensor stands for torch._utils._rebuild_tensor_v2(storage, storage_offset, size,
// stride, requires_grad, backward_hooks[, metadata]); it checks the view fits its storage.
func (d *decoder) rebuildTensor(args []any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments, want at least 4", len(args))
	}
	s, ok := args[0].(*Storage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is a %s, want a persistent storage", pyTypeName(args[0]))
	}
	off, ok := asInt(args[1])
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage_offset %s", brief(args[1]))
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %v", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %v", err)
	}
	if len(shape) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size has %d dims, stride %d", len(shape), len(stride))
	}
	// The last element the view touches must lie inside the storage.
	end, empty := off, false
	for i := range shape {
		if shape[i] < 0 || stride[i] < 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: negative size or stride %v/%v", shape, stride)
		}
		if shape[i] == 0 {
			empty = true
			continue
		}
		step, ok := mulInt64(shape[i]-1, stride[i])
		if !ok || end > math.MaxInt64-step {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size %v stride %v overflows", shape, stride)
		}
		end += step
	}
	if !empty && end >= s.Numel {
		return nil, fmt.Errorf("tensor of size %v stride %v at offset %d reaches element %d of storage %s, which has %d", shape, stride, off, end, s.Key, s.Numel)
	}
	d.tensors++
	return &Tensor{Storage: s, Offset: off, Shape: shape, Stride: stride}, nil
}

func intTuple(v any) ([]int64, error) {
	var items []any
	switch t := v.(type) {
	case *types.Tuple:
		items = *t
	case *types.List:
		items = *t
	default:
		return nil, fmt.Errorf("want a tuple, got %s", pyTypeName(v))
	}
	out := make([]int64, len(items))
	for i, e := range items {
		n, ok := asInt(e)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, want int", i, pyTypeName(e))
		}
		out[i] = n
	}
	return out, nil
}

func mulInt64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if a < 0 || b < 0 || a > math.MaxInt64/b {
		return 0, false
	}
	return a * b, true
}

// StorageBytes sums the storages' sizes.
func (ck *Checkpoint) StorageBytes() int64 {
	var n int64
	for _, s := range ck.Storages {
		n += s.Bytes
	}
	return n
}

// DTypes lists the storages' dtypes, sorted, each once.
func (ck *Checkpoint) DTypes() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ck.Storages {
		t := s.DType
		if t == "" {
			t = s.Type
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}
