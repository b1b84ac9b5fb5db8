package broker

import (
	"github.com/edgemq/edgemq/broker/packet"
	"github.com/edgemq/edgemq/storage"
)

// Handler is an in-process subscriber (a bridge's outbound queue).
type Handler interface {
	// HandleMessage is called while a message is routed, before its
	// publisher is acknowledged, once per matching subscription of the
	// handler. Writes the handler adds to b are committed together with the
	// publisher's own, so they are durable before the PUBACK/PUBREC (b is
	// nil when the broker has no store). The message is valid during the
	// call; to keep it, call m.Hold and later m.Release. It must not block.
	HandleMessage(m *Message, b *storage.Batch)
}

// Subscribe subscribes an in-process handler to filter. The returned
// function removes the subscription. A handler sees messages of any QoS;
// it gets no retained messages at subscription time.
func (s *Server) Subscribe(filter string, h Handler) (unsubscribe func(), err error) {
	if err := packet.ValidFilter([]byte(filter)); err != nil {
		return nil, err
	}
	if _, _, err := parseShared(filter); err != nil || len(filter) > 7 && filter[:7] == "$share/" {
		return nil, packet.TopicFilterInvalid
	}
	sub := &subscription{handler: h, filter: filter, topicFilter: filter, qos: 2}
	s.trie.add(sub)
	return func() { s.trie.removeHandler(h, filter) }, nil
}

// Bridge returns the name of the bridge the message came in over, or "".
func (m *Message) Bridge() string { return m.bridged }
