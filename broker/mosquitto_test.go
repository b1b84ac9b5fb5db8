package broker_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgemq/edgemq/broker"
)

// needTool fails the test (never skips it) when a tool is missing.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it with `apt-get install -y %s` (make test does this)", name, pkg)
	}
	return p
}

// TestMosquittoClients: Debian's mosquitto_pub and mosquitto_sub talk to
// edgemq in 3.1.1 and 5.0 at every QoS, including retained messages and
// v5 user properties.
func TestMosquittoClients(t *testing.T) {
	pubBin := needTool(t, "mosquitto_pub", "mosquitto-clients")
	subBin := needTool(t, "mosquitto_sub", "mosquitto-clients")
	tb := startBroker(t, broker.Options{})
	host, port, _ := strings.Cut(tb.addr, ":")
	for _, v := range []string{"mqttv311", "mqttv5"} {
		for qos := 0; qos <= 2; qos++ {
			t.Run(fmt.Sprintf("%s/qos%d", v, qos), func(t *testing.T) {
				topic := fmt.Sprintf("mq/%s/%d", v, qos)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				sub := exec.CommandContext(ctx, subBin, "-h", host, "-p", port, "-V", v, "-q", fmt.Sprint(qos),
					"-t", topic, "-C", "3", "-v", "-i", "sub-"+topic)
				var out strings.Builder
				sub.Stdout = &out
				sub.Stderr = &out
				if err := sub.Start(); err != nil {
					t.Fatal(err)
				}
				waitFor(t, 5*time.Second, "mosquitto_sub subscribed", func() bool {
					return tb.logs.hasLine("msg=subscribed", "client=sub-"+topic+" ", "filter="+topic)
				})
				for i := range 3 {
					args := []string{"-h", host, "-p", port, "-V", v, "-q", fmt.Sprint(qos), "-t", topic, "-m", fmt.Sprint("hello", i)}
					if v == "mqttv5" {
						args = append(args, "-D", "publish", "user-property", "k", "v")
					}
					if b, err := exec.CommandContext(ctx, pubBin, args...).CombinedOutput(); err != nil {
						t.Fatalf("mosquitto_pub: %v: %s", err, b)
					}
				}
				if err := sub.Wait(); err != nil {
					t.Fatalf("mosquitto_sub: %v: %s", err, out.String())
				}
				want := fmt.Sprintf("%s hello0\n%s hello1\n%s hello2\n", topic, topic, topic)
				if out.String() != want {
					t.Fatalf("mosquitto_sub printed %q, want %q", out.String(), want)
				}
			})
		}
	}
	t.Run("retained", func(t *testing.T) {
		if b, err := exec.Command(pubBin, "-h", host, "-p", port, "-t", "mq/ret", "-m", "kept", "-r", "-q", "1").CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, b)
		}
		out, err := exec.Command(subBin, "-h", host, "-p", port, "-t", "mq/ret", "-C", "1", "-W", "5", "-F", "%r %p").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "1 kept" {
			t.Fatalf("mosquitto_sub on a retained topic: %v: %q", err, out)
		}
	})
}
