package packet

import (
	"testing"
)

var payload64 = make([]byte, 64)

func benchPublish(v Version) *Publish {
	p := &Publish{QoS: 1, PacketID: 42, Topic: bs("sensors/building-1/floor-2/temperature"), Payload: payload64}
	if v == V5 {
		p.Props = mark(Properties{MessageExpiry: 60, ContentType: bs("application/json"),
			User: []UserProperty{{bs("site"), bs("north")}}, TopicAlias: 3}, PropMessageExpiry, PropTopicAlias)
	}
	return p
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		b.Run("v"+v.String(), func(b *testing.B) {
			raw := benchPublish(v).Append(nil, v)
			h, n, err := ParseHeader(raw)
			if err != nil {
				b.Fatal(err)
			}
			body := raw[n:]
			var p Publish
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := p.Decode(h, body, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodePublish(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		b.Run("v"+v.String(), func(b *testing.B) {
			p := benchPublish(v)
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			b.SetBytes(int64(p.Size(v)))
			for b.Loop() {
				buf = p.Append(buf[:0], v)
			}
		})
	}
}

// BenchmarkReaderPublish frames and decodes QoS 0 PUBLISH packets from an
// in-memory stream through one Reader, as a connection's read loop does.
func BenchmarkReaderPublish(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		b.Run("v"+v.String(), func(b *testing.B) {
			p := benchPublish(v)
			p.QoS, p.PacketID = 0, 0
			var stream []byte
			for range 100 {
				stream = p.Append(stream, v)
			}
			rd := NewReader(&loopReader{data: stream}, 0)
			var q Publish
			b.ReportAllocs()
			b.SetBytes(int64(len(stream) / 100))
			for b.Loop() {
				h, body, err := rd.Next()
				if err != nil {
					b.Fatal(err)
				}
				if err := q.Decode(h, body, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeSubscribe(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		b.Run("v"+v.String(), func(b *testing.B) {
			s := &Subscribe{PacketID: 7, Subs: []Subscription{
				{Filter: bs("sensors/+/temperature"), QoS: 1},
				{Filter: bs("alerts/#"), QoS: 2},
				{Filter: bs("$share/workers/jobs/+"), QoS: 1},
			}}
			if v == V5 {
				s.Props = mark(Properties{SubscriptionIDs: []uint32{12}})
			}
			raw := s.Append(nil, v)
			h, n, _ := ParseHeader(raw)
			var d Subscribe
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(h, raw[n:], v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidFilter(b *testing.B) {
	f := []byte("sensors/+/floor-2/#")
	b.ReportAllocs()
	for b.Loop() {
		if ValidFilter(f) != nil {
			b.Fatal("invalid")
		}
	}
}
