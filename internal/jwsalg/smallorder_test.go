package jwsalg

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"testing"
)

// edwards is the arithmetic of Ed25519's curve -x² + y² = 1 + d·x²·y²
// over GF(p), p = 2^255 - 19, d = -121665/121666 (RFC 8032, 5.1), done
// with math/big: slow, for this test only.
type edwards struct{ p, d *big.Int }

func newEdwards() edwards {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	d := new(big.Int).Mul(big.NewInt(-121665), new(big.Int).ModInverse(big.NewInt(121666), p))
	return edwards{p: p, d: d.Mod(d, p)}
}

func (e edwards) mod(x *big.Int) *big.Int { return x.Mod(x, e.p) }

func (e edwards) mul(xs ...*big.Int) *big.Int {
	r := big.NewInt(1)
	for _, x := range xs {
		r = e.mod(r.Mul(r, x))
	}
	return r
}

func (e edwards) inv(x *big.Int) *big.Int { return new(big.Int).ModInverse(x, e.p) }

// x2 is x² of the curve's points whose y is y, (y² - 1) / (d·y² + 1).
func (e edwards) x2(y *big.Int) *big.Int {
	yy := e.mul(y, y)
	num := e.mod(new(big.Int).Sub(yy, big.NewInt(1)))
	den := e.mod(new(big.Int).Add(e.mul(e.d, yy), big.NewInt(1)))
	return e.mul(num, e.inv(den))
}

// add is the twisted Edwards addition law (a = -1), complete on this curve.
func (e edwards) add(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	t := e.mul(e.d, x1, x2, y1, y2)
	x := e.mod(new(big.Int).Add(e.mul(x1, y2), e.mul(y1, x2)))
	y := e.mod(new(big.Int).Add(e.mul(y1, y2), e.mul(x1, x2)))
	x = e.mul(x, e.inv(e.mod(new(big.Int).Add(big.NewInt(1), t))))
	y = e.mul(y, e.inv(e.mod(new(big.Int).Sub(big.NewInt(1), t))))
	return x, y
}

// order is the order of (x, y) if it is at most 8, else 0.
func (e edwards) order(x, y *big.Int) int {
	px, py := x, y
	for n := 1; n <= 8; n++ {
		if px.Sign() == 0 && py.Cmp(big.NewInt(1)) == 0 {
			return n
		}
		px, py = e.add(px, py, x, y)
	}
	return 0
}

// encode is y's 32-byte little-endian encoding, sign bit clear.
func encode(y *big.Int) [ed25519.PublicKeySize]byte {
	var b [ed25519.PublicKeySize]byte
	y.FillBytes(b[:])
	slices.Reverse(b[:])
	return b
}

// The blocklist is exactly the encodings of the y of the points of order
// 1, 2, 4 and 8, canonical or not, derived here from the curve: the
// identity (0, 1), (0, -1) of order 2, (±sqrt(-1), 0) of order 4, and the
// points of order 8, whose double has y = 0, so x² = -y² and, on the
// curve, d·y⁴ + 2y² - 1 = 0: y² = (-1 ± sqrt(1 + d)) / d. A y below 19 has
// the second, non-canonical encoding y + p under 2^255.
func TestSmallOrderEd25519_TableIsDerivedFromTheCurve(t *testing.T) {
	e := newEdwards()
	ys := []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(e.p, big.NewInt(1))}
	s := new(big.Int).ModSqrt(e.mod(new(big.Int).Add(big.NewInt(1), e.d)), e.p)
	if s == nil {
		t.Fatal("1 + d is not a square")
	}
	order8 := 0
	for _, root := range []*big.Int{s, new(big.Int).Neg(s)} {
		yy := e.mul(e.mod(new(big.Int).Sub(root, big.NewInt(1))), e.inv(e.d))
		y := new(big.Int).ModSqrt(yy, e.p)
		if y == nil {
			continue // no y for this y²
		}
		for _, y := range []*big.Int{y, e.mod(new(big.Int).Neg(y))} {
			if new(big.Int).ModSqrt(e.x2(y), e.p) == nil {
				continue // no curve point with this y
			}
			ys = append(ys, y)
			order8++
		}
	}
	if order8 != 2 {
		t.Fatalf("found %d y of order-8 points, want 2", order8)
	}
	limit := new(big.Int).Lsh(big.NewInt(1), 255)
	want := map[[ed25519.PublicKeySize]byte]bool{}
	orders := map[int]int{}
	for _, y := range ys {
		x := new(big.Int).ModSqrt(e.x2(y), e.p)
		if x == nil {
			t.Fatalf("no curve point has y = %v", y)
		}
		n := e.order(x, y)
		if n == 0 || e.order(e.mod(new(big.Int).Neg(x)), y) != n {
			t.Fatalf("the points with y = %v are of order %d, want at most 8", y, n)
		}
		orders[n]++
		want[encode(y)] = true
		if alt := new(big.Int).Add(y, e.p); alt.Cmp(limit) < 0 {
			want[encode(alt)] = true
		}
	}
	if orders[1] != 1 || orders[2] != 1 || orders[4] != 1 || orders[8] != 2 {
		t.Fatalf("y per order %v, want 1, 1, 1 and 2 for orders 1, 2, 4 and 8", orders)
	}
	got := map[[ed25519.PublicKeySize]byte]bool{}
	for _, enc := range smallOrderEd25519 {
		if got[enc] {
			t.Errorf("%x is listed twice", enc)
		}
		got[enc] = true
	}
	if len(got) != len(want) {
		t.Errorf("the table has %d encodings, the curve %d", len(got), len(want))
	}
	for enc := range want {
		if !got[enc] {
			t.Errorf("%x (a small-order y) is missing from the table", enc)
		}
	}
	for enc := range got {
		if !want[enc] {
			t.Errorf("%x is in the table but no small-order y", enc)
		}
	}
}

// forgedEd25519 is the signature R = identity, S = 0, made without a key.
var forgedEd25519 = append([]byte{0x01}, make([]byte, 2*ed25519.PublicKeySize-1)...)

// Every encoding in the table, with either sign bit, is a key under which
// crypto/ed25519.Verify accepts the signature R = identity, S = 0 of some
// of 64 messages, and SmallOrderEd25519 reports each; a generated key
// accepts none of these signatures and is not reported, nor is a key of
// another length.
func TestSmallOrderEd25519_ReportsEveryKeyUnderWhichAnyoneSigns(t *testing.T) {
	accepts := func(pub ed25519.PublicKey) int {
		n := 0
		for i := range 64 {
			if ed25519.Verify(pub, fmt.Appendf(nil, "message %d", i), forgedEd25519) {
				n++
			}
		}
		return n
	}
	for _, enc := range smallOrderEd25519 {
		for _, sign := range []byte{0, 0x80} {
			pub := ed25519.PublicKey(slices.Clone(enc[:]))
			pub[31] |= sign
			if !SmallOrderEd25519(pub) {
				t.Errorf("SmallOrderEd25519(%x) = false", pub)
			}
			if accepts(pub) == 0 {
				t.Errorf("under %x, no message's signature is forged: the table entry proves nothing", pub)
			}
		}
	}
	for range 16 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if SmallOrderEd25519(pub) {
			t.Errorf("SmallOrderEd25519(%x) = true for a generated key", pub)
		}
		if n := accepts(pub); n != 0 {
			t.Errorf("under the generated key %x, %d forged signatures verify", pub, n)
		}
	}
	for _, pub := range []ed25519.PublicKey{nil, {0x01}, make([]byte, 31), make([]byte, 33)} {
		if SmallOrderEd25519(pub) {
			t.Errorf("SmallOrderEd25519 of %d bytes = true", len(pub))
		}
	}
}
