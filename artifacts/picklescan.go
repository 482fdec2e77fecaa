package artifacts

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Limits prescanPickle puts on single values: torch payloads hold short strings and small
// ints. gopickle allocates a value's length before it reads it, and decodes long ints in
// quadratic time, so these are checked first.
const (
	maxPickleLine   = 4096 // text-protocol arguments (INT, LONG, FLOAT, GLOBAL names...)
	maxPickleLong   = 1024 // bytes of a LONG1/LONG4 integer
	maxPickleMemoID = 1 << 24
)

// MaxPickleOps bounds the opcodes of data.pkl, which gopickle turns into objects of about 120
// bytes each at most (an empty dict): 1Mi opcodes cost at most some 130 MiB to decode. A tensor
// pickles to about 35 opcodes, so an SDXL UNet's checkpoint with its AdamW state (some 9,000
// tensors) takes about 320,000.
const MaxPickleOps = 1 << 20

// pickleArg is how an opcode's argument is laid out in the stream.
type pickleArg int

const (
	argNone   pickleArg = iota
	argFixed            // n bytes
	argLine             // up to and including '\n'
	argLines2           // two lines (GLOBAL, INST)
	argLen1             // 1-byte length, then that many bytes
	argLen4             // 4-byte little-endian length, then that many bytes
	argLen8             // 8-byte little-endian length, then that many bytes
)

type pickleOp struct {
	arg  pickleArg
	size int // bytes for argFixed
}

// pickleOps is every opcode of protocols 0 to 5, as Python's pickletools lists them.
var pickleOps = func() [256]*pickleOp {
	var t [256]*pickleOp
	set := func(codes string, op pickleOp) {
		for i := 0; i < len(codes); i++ {
			o := op
			t[codes[i]] = &o
		}
	}
	set("(.012NQRabde}lost)u]\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98", pickleOp{arg: argNone})
	set("FILPSVgp", pickleOp{arg: argLine})
	set("ci", pickleOp{arg: argLines2})
	set("Kqh\x80\x82", pickleOp{arg: argFixed, size: 1})
	set("M\x83", pickleOp{arg: argFixed, size: 2})
	set("Jjr\x84", pickleOp{arg: argFixed, size: 4})
	set("G\x95", pickleOp{arg: argFixed, size: 8})
	set("UC\x8c\x8a", pickleOp{arg: argLen1})
	set("TXB\x8b", pickleOp{arg: argLen4})
	set("\x8d\x8e\x96", pickleOp{arg: argLen8})
	return t
}()

// prescanPickle walks the opcode stream up to STOP without running it, and fails on an unknown
// opcode, a length that runs past the data, a FRAME larger than what follows, an oversized
// text argument or long integer, or a huge memo index.
func prescanPickle(data []byte) error {
	pos := 0
	for ops := 1; ; ops++ {
		if pos >= len(data) {
			return fmt.Errorf("pickle ends at byte %d without STOP", pos)
		}
		if ops > MaxPickleOps {
			return fmt.Errorf("pickle: more than %d opcodes, the most the harness decodes", MaxPickleOps)
		}
		code := data[pos]
		op := pickleOps[code]
		if op == nil {
			return fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", code, pos)
		}
		at := pos
		pos++
		rest := len(data) - pos
		switch op.arg {
		case argNone:
			if code == '.' {
				return nil
			}
		case argFixed:
			if rest < op.size {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d: argument runs past the end", code, at)
			}
			arg := data[pos : pos+op.size]
			switch code {
			case 0x95: // FRAME: its payload must follow in full
				if n := binary.LittleEndian.Uint64(arg); n > uint64(rest-op.size) {
					return fmt.Errorf("pickle: FRAME at byte %d: %d bytes, only %d follow", at, n, rest-op.size)
				}
			case 'j', 'r':
				if binary.LittleEndian.Uint32(arg) > maxPickleMemoID {
					return fmt.Errorf("pickle: memo index %d at byte %d is too large", binary.LittleEndian.Uint32(arg), at)
				}
			}
			pos += op.size
		case argLine, argLines2:
			lines := 1
			if op.arg == argLines2 {
				lines = 2
			}
			for ; lines > 0; lines-- {
				nl := bytes.IndexByte(data[pos:min(len(data), pos+maxPickleLine)], '\n')
				if nl < 0 {
					return fmt.Errorf("pickle: opcode 0x%02x at byte %d: argument line missing or longer than %d bytes", code, at, maxPickleLine)
				}
				pos += nl + 1
			}
		case argLen1, argLen4, argLen8:
			width := map[pickleArg]int{argLen1: 1, argLen4: 4, argLen8: 8}[op.arg]
			if rest < width {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d: length runs past the end", code, at)
			}
			var n uint64
			switch width {
			case 1:
				n = uint64(data[pos])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(data[pos:]))
				if code == 'T' && n >= 1<<31 { // BINSTRING's length is signed
					return fmt.Errorf("pickle: BINSTRING at byte %d: negative length", at)
				}
			case 8:
				n = binary.LittleEndian.Uint64(data[pos:])
			}
			pos += width
			if n > uint64(len(data)-pos) {
				return fmt.Errorf("pickle: opcode 0x%02x at byte %d: %d bytes, only %d follow", code, at, n, len(data)-pos)
			}
			if (code == 0x8a || code == 0x8b) && (n > maxPickleLong || n == 0 && code == 0x8b) {
				return fmt.Errorf("pickle: long integer of %d bytes at byte %d", n, at)
			}
			pos += int(n)
		}
	}
}
