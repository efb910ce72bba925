package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	itemsv1 "github.com/grpcauth/grpcauth/examples/items/proto/items/v1"
)

func fixedNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

func TestStore_ListsInCreationOrderAndRecordsTheCreator(t *testing.T) {
	s := newStore(fixedNow)
	for i := range 12 { // past 9, where string order and creation order differ
		if _, err := s.create(strings.Repeat("x", i+1), "sub", "cid"); err != nil {
			t.Fatal(err)
		}
	}
	got := s.list()
	if len(got) != 12 {
		t.Fatalf("list has %d items, want 12", len(got))
	}
	for i, it := range got {
		if want := strings.Repeat("x", i+1); it.GetName() != want {
			t.Errorf("item %d is %q, want %q", i, it.GetName(), want)
		}
	}
	it := got[0]
	if it.GetId() != "item-1" || it.GetCreatedBy() != "sub" || it.GetCreatedByClient() != "cid" || !it.GetCreateTime().AsTime().Equal(fixedNow()) {
		t.Errorf("first item = %v", it)
	}
}

func TestStore_Errors(t *testing.T) {
	s := newStore(fixedNow)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"empty name", func() error { _, err := s.create("", "s", "c"); return err }, errEmptyName},
		{"long name", func() error { _, err := s.create(strings.Repeat("n", maxNameBytes+1), "s", "c"); return err }, errLongName},
		{"longest name", func() error { _, err := s.create(strings.Repeat("n", maxNameBytes), "s", "c"); return err }, nil},
		{"get unknown", func() error { _, err := s.get("item-99"); return err }, errNotFound},
		{"delete unknown", func() error { return s.delete("item-99") }, errNotFound},
		{"delete known", func() error { return s.delete("item-1") }, nil},
		{"delete twice", func() error { return s.delete("item-1") }, errNotFound},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestStore_RefusesItemsBeyondItsLimit(t *testing.T) {
	s := newStore(fixedNow)
	for range maxItems {
		if _, err := s.create("n", "s", "c"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.create("n", "s", "c"); !errors.Is(err, errFull) {
		t.Fatalf("create beyond the limit: %v, want errFull", err)
	}
	if err := s.delete("item-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.create("n", "s", "c"); err != nil {
		t.Fatalf("create after a delete: %v", err)
	}
}

func TestStore_WatcherGetsSnapshotThenChanges(t *testing.T) {
	s := newStore(fixedNow)
	if _, err := s.create("before", "s", "c"); err != nil {
		t.Fatal(err)
	}
	w, existing := s.watch()
	defer s.unwatch(w)
	if len(existing) != 1 || existing[0].GetName() != "before" {
		t.Fatalf("snapshot = %v", existing)
	}
	it, err := s.create("after", "s", "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.delete(it.GetId()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []itemsv1.WatchItemsResponse_Kind{itemsv1.WatchItemsResponse_KIND_CREATED, itemsv1.WatchItemsResponse_KIND_DELETED} {
		ev := <-w.events
		if ev.GetKind() != want || ev.GetItem().GetId() != it.GetId() {
			t.Errorf("event = %v %s, want %v %s", ev.GetKind(), ev.GetItem().GetId(), want, it.GetId())
		}
	}
}

func TestStore_SlowWatcherIsDroppedNotBuffered(t *testing.T) {
	s := newStore(fixedNow)
	w, _ := s.watch()
	for range watchQueueSize + 1 {
		if _, err := s.create("n", "s", "c"); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range w.events { // ends: the store closed the channel
		n++
	}
	if n != watchQueueSize {
		t.Errorf("dropped watcher received %d events, want the %d queued", n, watchQueueSize)
	}
	s.unwatch(w) // after the drop: must not close again
	if len(s.watchers) != 0 {
		t.Errorf("store still holds %d watchers", len(s.watchers))
	}
}
