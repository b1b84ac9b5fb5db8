package packet

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

var allVersions = []Version{V31, V311, V5}

// checkDecode decodes one framed packet with version v and, when that
// succeeds, checks decode -> encode -> decode stability: the second decode
// gives the same value, Size agrees with Append, and encoding is idempotent.
func checkDecode(t *testing.T, h Header, body []byte, v Version) {
	t.Helper()
	p := newFor(h.Type)
	if p == nil {
		t.Fatalf("ParseHeader let type %d through", h.Type)
	}
	if err := decodeInto(p, h, body, v); err != nil {
		var e *Error
		if !errors.As(err, &e) || !e.Code.IsError() || len(e.Bytes) > maxErrBytes {
			t.Fatalf("decode error %v (%T) is not a proper *Error", err, err)
		}
		_ = e.Error()
		return
	}
	if c, ok := p.(*Connect); ok {
		v = c.Version
	}
	if h.Type == CONNACK && v == V5 && len(body) == 2 {
		return // a 3.1.1 CONNACK read by a v5 client: re-encoded in the v5 form, not the same packet
	}
	raw := p.Append(nil, v)
	if len(raw) != p.Size(v) {
		t.Fatalf("%v v%s: Size %d, Append wrote %d bytes", h.Type, v, p.Size(v), len(raw))
	}
	q, err := decodeRaw(raw, v)
	if err != nil {
		t.Fatalf("%v v%s: re-decoding % x: %v\nfrom %+v", h.Type, v, raw, err, p)
	}
	if !same(p, q) {
		t.Fatalf("%v v%s: decode(encode(x)) != x\n%+v\n%+v", h.Type, v, p, q)
	}
	if again := q.Append(nil, v); !bytes.Equal(again, raw) {
		t.Fatalf("%v v%s: encoding not stable\n% x\n% x", h.Type, v, raw, again)
	}
}

func addTableSeeds(f *testing.F, add func(raw []byte)) {
	for _, tc := range allTPackets() {
		add(tc.raw)
	}
	for _, tc := range tmalformedPackets {
		add(tc.raw)
	}
}

// FuzzReader feeds the input through a Reader in two reads split at a
// fuzzer-chosen point and decodes every framed packet with all three
// versions. Nothing may panic; errors must be the documented kinds.
func FuzzReader(f *testing.F) {
	addTableSeeds(f, func(raw []byte) { f.Add(raw, uint16(len(raw)/2)) })
	f.Add(tableStream(allTPackets()), uint16(77))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		k := int(split) % (len(data) + 1)
		rd := NewReaderSize(&chunkReader{chunks: [][]byte{data[:k], data[k:]}}, 1<<16, 16)
		for {
			h, body, err := rd.Next()
			if err != nil {
				var e *Error
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &e) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(body) != h.Remaining {
				t.Fatalf("body %d bytes, remaining length %d", len(body), h.Remaining)
			}
			for _, v := range allVersions {
				checkDecode(t, h, body, v)
			}
		}
	})
}

// bodyOf returns the body of a whole packet, or nil.
func bodyOf(raw []byte) (Header, []byte) {
	h, n, err := ParseHeader(raw)
	if err != nil || n+h.Remaining > len(raw) {
		return h, nil
	}
	return h, raw[n : n+h.Remaining]
}

func FuzzDecodeConnect(f *testing.F) {
	addTableSeeds(f, func(raw []byte) {
		if h, body := bodyOf(raw); h.Type == CONNECT && body != nil {
			f.Add(body)
		}
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, Header{Type: CONNECT, Remaining: len(body)}, body, V5)
	})
}

func FuzzDecodePublish(f *testing.F) {
	addTableSeeds(f, func(raw []byte) {
		if h, body := bodyOf(raw); h.Type == PUBLISH && body != nil {
			f.Add(h.Flags, body, byte(V5))
			f.Add(h.Flags, body, byte(V311))
		}
	})
	f.Fuzz(func(t *testing.T, flags byte, body []byte, v byte) {
		h := Header{Type: PUBLISH, Flags: flags & 0x0f, Remaining: len(body)}
		if checkFlags(PUBLISH, h.Flags, byte(PUBLISH)<<4|h.Flags) != nil {
			return // ParseHeader never hands these on
		}
		checkDecode(t, h, body, allVersions[int(v)%3])
	})
}

func FuzzDecodeSubscribe(f *testing.F) {
	addTableSeeds(f, func(raw []byte) {
		if h, body := bodyOf(raw); h.Type == SUBSCRIBE && body != nil {
			f.Add(body, true)
			f.Add(body, false)
		}
	})
	f.Fuzz(func(t *testing.T, body []byte, v5 bool) {
		v := V311
		if v5 {
			v = V5
		}
		h := Header{Type: SUBSCRIBE, Flags: 0x02, Remaining: len(body)}
		checkDecode(t, h, body, v)
		var s Subscribe
		if s.Decode(h, body, v) == nil {
			for _, sub := range s.Subs {
				if err := ValidFilter(sub.Filter); err != nil {
					var e *Error
					if !errors.As(err, &e) || e.Code != TopicFilterInvalid {
						t.Fatalf("ValidFilter(%q): %v", sub.Filter, err)
					}
				}
			}
		}
	})
}

// FuzzProperties decodes a property section as packet type typ (or as a
// will) allows it, then re-encodes and re-decodes it.
func FuzzProperties(f *testing.F) {
	addTableSeeds(f, func(raw []byte) {
		h, body := bodyOf(raw)
		if body == nil {
			return
		}
		// Seed with the body from each offset where properties may start.
		for _, off := range []int{0, 1, 2, 3, 4, 5, 7} {
			if off < len(body) {
				f.Add(body[off:], byte(h.Type), false)
			}
		}
	})
	f.Add([]byte{7, 0x18, 0, 0, 0, 5, 0x01, 1}, byte(CONNECT), true)
	f.Fuzz(func(t *testing.T, data []byte, typ byte, will bool) {
		pt := Type(typ & 0x0f)
		mask := maskFor(pt)
		if will {
			pt, mask = CONNECT, maskWill
		}
		if mask == 0 {
			return
		}
		var p Properties
		end, err := p.decode(pt, will, mask, data, 0)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !e.Code.IsError() {
				t.Fatalf("error %v is not a proper *Error", err)
			}
			return
		}
		if end > len(data) {
			t.Fatalf("decode ended at %d of %d", end, len(data))
		}
		w := p.written(mask)
		n := p.listSize(pt, w)
		enc := p.appendList(nil, pt, w, n)
		if len(enc) != VarintSize(n)+n {
			t.Fatalf("listSize %d, wrote %d", n, len(enc))
		}
		var q Properties
		if _, err := q.decode(pt, will, mask, enc, 0); err != nil {
			t.Fatalf("re-decoding % x: %v", enc, err)
		}
		if !same(p, q) {
			t.Fatalf("decode(encode(x)) != x\n%+v\n%+v", p, q)
		}
	})
}
