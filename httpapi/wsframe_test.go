package httpapi

import (
	"testing"

	"github.com/reddot-dev/reddot"
)

// frameFixtures is shared by the decoder test and the fuzz seed corpus.
var frameFixtures = []struct {
	in   string
	op   string
	ref  string
	code string
}{
	{`{"op":"ping"}`, OpPing, "", ""},
	{`{"op":"ping","ref":1}`, OpPing, "1", ""},
	{`{"op":"subscribe","topics":["news"],"since":"abc","ref":"x"}`, OpSubscribe, `"x"`, ""},
	{`{"op":"unsubscribe","topics":["news"]}`, OpUnsubscribe, "", ""},
	{`{"op":"read","ids":["a","b"]}`, OpRead, "", ""},
	{`{"op":"read","all":true}`, OpRead, "", ""},
	{`{"op":"read","category":"c"}`, OpRead, "", ""},
	{`{"op":"publish","topic":"chat","data":{"t":1}}`, OpPublish, "", ""},
	{`{"op":"fly","ref":2}`, "fly", "2", reddot.EINVALID},
	{`{"ref":3}`, "", "3", reddot.EINVALID},
	{`{"op":"read","ref":4}`, OpRead, "4", reddot.EINVALID},
	{`{"op":"read","all":true,"ids":["a"]}`, OpRead, "", reddot.EINVALID},
	{`{"op":"subscribe"}`, OpSubscribe, "", reddot.EINVALID},
	{`{"op":"unsubscribe","topics":[]}`, OpUnsubscribe, "", reddot.EINVALID},
	{`{"op":"publish"}`, OpPublish, "", reddot.EINVALID},
	{`{"op":"ping","ref":{"a":1}}`, OpPing, "", reddot.EINVALID},
	{`{"op":"ping","ref":5`, "", "", reddot.EINVALID},
	{`{"op":7,"ref":6}`, "", "6", reddot.EINVALID},
	{`not json`, "", "", reddot.EINVALID},
	{``, "", "", reddot.EINVALID},
}

func TestDecodeFrame(t *testing.T) {
	for _, fx := range frameFixtures {
		f, err := DecodeFrame([]byte(fx.in))
		if code := reddot.ErrorCode(err); code != fx.code {
			t.Errorf("%s: code %q, want %q (%v)", fx.in, code, fx.code, err)
		}
		if f.Op != fx.op || string(f.Ref) != fx.ref {
			t.Errorf("%s: op %q ref %s, want %q %s", fx.in, f.Op, f.Ref, fx.op, fx.ref)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, fx := range frameFixtures {
		f.Add([]byte(fx.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil && reddot.ErrorCode(err) != reddot.EINVALID && reddot.ErrorCode(err) != reddot.ETOOLARGE {
			t.Fatalf("code %q for client input", reddot.ErrorCode(err))
		}
		if !validRef(fr.Ref) {
			t.Fatalf("echoing an invalid ref %q", fr.Ref)
		}
		if err == nil {
			switch fr.Op {
			case OpPing, OpSubscribe, OpUnsubscribe, OpRead, OpPublish:
			default:
				t.Fatalf("accepted op %q", fr.Op)
			}
		}
	})
}
