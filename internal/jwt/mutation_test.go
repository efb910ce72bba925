package jwt

import "testing"

// Has knows every one of RegisteredNames, present or not, and no other
// name.
func TestPresence_HasKnowsEveryRegisteredName(t *testing.T) {
	p := Presence(1<<3 | 1<<13) // aud and cnf
	for i, name := range RegisteredNames {
		has, known := p.Has(name)
		if !known || has != (i == 3 || i == 13) {
			t.Errorf("Has(%q) = %v, %v, want %v, true", name, has, known, i == 3 || i == 13)
		}
	}
	if has, known := p.Has("custom"); has || known {
		t.Errorf("Has(custom) = %v, %v, want false, false", has, known)
	}
}
