package config

import (
	"fmt"
	"slices"
	"strconv"
)

func (k *checker) mqttsn() {
	sn := k.c.MQTTSN
	udp := make(map[string]string)
	for i, u := range sn.UDP {
		key := fmt.Sprintf("mqttsn.udp[%d]", i)
		if k.required(key+".address", u.Address) {
			if _, _, err := hostPort(u.Address, true); err != nil {
				k.errorf(key+".address", "%v", err)
			} else if first, dup := udp[u.Address]; dup {
				k.errorf(key+".address", "%q is also the address of %s%s", u.Address, first, k.line(first))
			} else {
				udp[u.Address] = key + ".address"
			}
		}
		if u.Broadcast != "" {
			if _, _, err := hostPort(u.Broadcast, false); err != nil {
				k.errorf(key+".broadcast", "%v", err)
			}
		}
	}
	devices := make(map[string]string)
	for i, s := range sn.Serial {
		key := fmt.Sprintf("mqttsn.serial[%d]", i)
		if k.required(key+".device", s.Device) {
			if first, dup := devices[s.Device]; dup {
				k.errorf(key+".device", "%q is also the device of %s%s", s.Device, first, k.line(first))
			}
			devices[s.Device] = key + ".device"
		}
		k.atLeast(key+".baud", s.Baud, 1)
		k.serialFraming(key, s)
	}
	k.predefined(sn.PredefinedTopics)
	k.within("mqttsn.gateway_id", sn.GatewayID, 1, 255)
	k.seconds("mqttsn.advertise_interval", sn.AdvertiseInterval, 65535) // ADVERTISE Duration is 16 bits
	k.atLeast("mqttsn.max_clients", sn.MaxClients, 1)
	k.atLeast("mqttsn.sleep_queue", sn.SleepQueue, 1)
}

func (k *checker) serialFraming(key string, s Serial) {
	if s.Forwarder && s.Framing != FramingRaw {
		k.errorf(key+".forwarder", "only with framing raw, not %s", s.Framing)
	}
	if s.Framing != FramingRS485 {
		if s.RS485 != nil {
			k.errorf(key+".rs485", "only with framing rs485, not %s", s.Framing)
		}
		return
	}
	if s.RS485 == nil {
		k.errorf(key+".rs485", "missing: framing rs485 needs an rs485 block with the nodes to poll")
		return
	}
	r := s.RS485
	key += ".rs485"
	if len(r.Nodes) == 0 {
		k.errorf(key+".nodes", "must list at least one node address to poll")
	}
	seen := make(map[int]int)
	for i, n := range r.Nodes {
		nk := key + ".nodes[" + strconv.Itoa(i) + "]"
		k.within(nk, n, 1, 65535)
		if first, dup := seen[n]; dup {
			k.errorf(nk, "node %d is already listed at nodes[%d]", n, first)
		}
		seen[n] = i
	}
	k.positive(key+".poll_interval", r.PollInterval)
	k.positive(key+".reply_timeout", r.ReplyTimeout)
}

func (k *checker) predefined(topics map[uint16]string) {
	ids := make([]uint16, 0, len(topics))
	for id := range topics {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	names := make(map[string]uint16)
	for _, id := range ids {
		key := fmt.Sprintf("mqttsn.predefined_topics.%d", id)
		name := topics[id]
		if id == 0 {
			k.errorf(key, "topic id 0 is reserved: ids are 1 to 65535")
		}
		if err := checkTopicName(name); err != nil {
			k.errorf(key, "%v", err)
			continue
		}
		if first, dup := names[name]; dup {
			k.errorf(key, "%q is already predefined as id %d", name, first)
		}
		names[name] = id
	}
}
