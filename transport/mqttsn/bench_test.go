package mqttsn

import (
	"bytes"
	"testing"
)

var benchPublish = cat(0x11, 0x0C, 0x20, 0x00, 0x05, 0x12, 0x34, "temp=21.5C")

func TestDecodePublishAllocatesNothing(t *testing.T) {
	var d Decoder
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(benchPublish); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode(PUBLISH) allocates %v times", allocs)
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPublish)))
	for b.Loop() {
		m, err := d.Decode(benchPublish)
		if err != nil {
			b.Fatal(err)
		}
		if m.(*Publish).MsgID != 0x1234 {
			b.Fatal("wrong MsgID")
		}
	}
}

func BenchmarkDecodePublishLong(b *testing.B) {
	wire, _ := (&Publish{QoS: QoS1, TopicID: 5, MsgID: 1, Data: bytes.Repeat([]byte{1}, 1000)}).Append(nil)
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if _, err := d.Decode(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	p := &Publish{QoS: QoS1, TopicID: 5, MsgID: 0x1234, Data: []byte("temp=21.5C")}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.Append(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEveryType(b *testing.B) {
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range codecCases {
			if _, err := d.Decode(c.wire); err != nil {
				b.Fatal(err)
			}
		}
	}
}
