package reddot_test

import (
	"testing"

	"github.com/reddot-dev/reddot"
)

func TestCursorRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		user string
		c    reddot.Cursor
	}{
		{"empty", "", reddot.Cursor{Epoch: 7}},
		{"named", "", reddot.Cursor{Epoch: 1, Positions: []reddot.Position{{"news", 17}, {"private:ops/x", 1 << 40}}}},
		{"inbox and broadcast", "42", reddot.Cursor{Epoch: 0xdeadbeef, Positions: []reddot.Position{{"user:42", 3}, {"broadcast", 9}, {"news", 0}}}},
		{"other inbox stays named", "42", reddot.Cursor{Epoch: 2, Positions: []reddot.Position{{"user:7", 5}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.c.Encode(tc.user)
			got, err := reddot.DecodeCursor(s, tc.user)
			if err != nil {
				t.Fatalf("decode %q: %v", s, err)
			}
			if got.Epoch != tc.c.Epoch || len(got.Positions) != len(tc.c.Positions) {
				t.Fatalf("got %+v, want %+v", got, tc.c)
			}
			for i := range got.Positions {
				if got.Positions[i] != tc.c.Positions[i] {
					t.Fatalf("position %d: got %+v, want %+v", i, got.Positions[i], tc.c.Positions[i])
				}
			}
		})
	}
}

func TestCursorInboxIsBoundToTheUser(t *testing.T) {
	s := reddot.Cursor{Epoch: 1, Positions: []reddot.Position{{"user:42", 3}}}.Encode("42")
	c, err := reddot.DecodeCursor(s, "7")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Seq("user:42"); ok {
		t.Fatal("user 7 decoded a position in user 42's inbox")
	}
	if seq, ok := c.Seq("user:7"); !ok || seq != 3 {
		t.Fatalf("the inbox position follows the decoding user: %v %v", seq, ok)
	}
}

func TestCursorRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "!!!", "AA", "AgAAAAEA", "AQAAAAH_", string(make([]byte, 9000))} {
		if _, err := reddot.DecodeCursor(s, "42"); reddot.ErrorCode(err) != reddot.EINVALID {
			t.Errorf("%q: err %v, want invalid", s, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(reddot.Cursor{Epoch: 1, Positions: []reddot.Position{{"news", 17}, {"user:42", 2}, {"broadcast", 1}}}.Encode("42"), "42")
	f.Add("AQAAAAEBAARuZXdzAQ", "")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, s, user string) {
		c, err := reddot.DecodeCursor(s, user)
		if err != nil {
			if reddot.ErrorCode(err) != reddot.EINVALID {
				t.Fatalf("error code %q", reddot.ErrorCode(err))
			}
			return
		}
		for _, p := range c.Positions {
			if !reddot.ValidTopic(p.Topic) {
				t.Fatalf("decoded invalid topic %q", p.Topic)
			}
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := reddot.DecodeCursor(c.Encode(user), user)
		if err != nil || again.Epoch != c.Epoch || len(again.Positions) != len(c.Positions) {
			t.Fatalf("re-encode mismatch: %v %+v %+v", err, again, c)
		}
	})
}

func TestValidNames(t *testing.T) {
	for s, want := range map[string][2]bool{ // topic, user
		"news": {true, true}, "a.b-c_d@e": {true, true}, "private:ops/x": {true, false}, "": {false, false},
		"a b": {false, false}, "ü": {false, false}, "x\n": {false, false}, string(make([]byte, 129)): {false, false},
	} {
		if reddot.ValidTopic(s) != want[0] || reddot.ValidUser(s) != want[1] {
			t.Errorf("%q: topic %v user %v, want %v", s, reddot.ValidTopic(s), reddot.ValidUser(s), want)
		}
	}
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'a'
	}
	if !reddot.ValidTopic(string(long)) || reddot.ValidTopic(string(long)+"a") || reddot.ValidUser(string(long[:129])) || !reddot.ValidUser(string(long[:128])) {
		t.Error("length limits")
	}
}

func BenchmarkCursorEncode(b *testing.B) {
	c := reddot.Cursor{Epoch: 7, Positions: []reddot.Position{{"news", 123456}, {"user:42", 17}, {"broadcast", 3}}}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendEncode(buf[:0], "42")
	}
}

func BenchmarkCursorDecode(b *testing.B) {
	s := reddot.Cursor{Epoch: 7, Positions: []reddot.Position{{"news", 123456}, {"user:42", 17}, {"broadcast", 3}}}.Encode("42")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reddot.DecodeCursor(s, "42"); err != nil {
			b.Fatal(err)
		}
	}
}
