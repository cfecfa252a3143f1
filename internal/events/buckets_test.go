package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/plaidstream/plaidstream/internal/events"
)

func TestBucketSpecs(t *testing.T) {
	specs := []events.BucketSpec{
		events.TokensBucketSpec(),
		events.ItemsBucketSpec(),
		events.LeasesBucketSpec(),
		events.RecurringBucketSpec(),
	}
	want := []string{events.TokensBucket, events.ItemsBucket, events.LeasesBucket, events.RecurringBucket}
	for i, s := range specs {
		if s.Name != want[i] {
			t.Errorf("spec %d: name %q, want %q", i, s.Name, want[i])
		}
		if s.Description == "" || s.History < 1 || s.History > 64 {
			t.Errorf("%s: description %q history %d", s.Name, s.Description, s.History)
		}
		if s.TTL != 0 {
			t.Errorf("%s: bucket-wide TTL %v would drop state", s.Name, s.TTL)
		}
	}
	if events.TokensBucketSpec().History != 1 {
		t.Error("tokens must keep no older sealed copies")
	}
	if events.LeasesBucketSpec().LimitMarkerTTL <= 0 {
		t.Error("leases need per-key TTLs")
	}
}

func TestOwnerKey(t *testing.T) {
	tests := []struct {
		kind events.OwnerKind
		id   string
		want string
	}{
		{events.OwnerItem, "eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFL9DrE6", "item.eVBnVMp7zdTJLkRNr33Rs6zr7KNJqBFL9DrE6"},
		{events.OwnerProcessor, "acc_1-2=", "processor.acc_1-2="},
		{events.OwnerItem, "", ""},
		{events.OwnerItem, "a.b", ""},
		{events.OwnerItem, "a*", ""},
		{events.OwnerItem, "a b", ""},
		{events.OwnerItem, "a:b", ""},
		{events.OwnerItem, "a/b", ""},
		{events.OwnerItem, "ünï", ""},
		{events.OwnerItem, strings.Repeat("a", events.MaxNameLength+1), ""},
		{"account", "abc", ""},
	}
	for _, tt := range tests {
		got, err := events.OwnerKey(tt.kind, tt.id)
		if tt.want == "" {
			if !errors.Is(err, events.ErrBadOwner) {
				t.Errorf("OwnerKey(%q, %q): got %q, %v; want ErrBadOwner", tt.kind, tt.id, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("OwnerKey(%q, %q): got %q, %v; want %q", tt.kind, tt.id, got, err, tt.want)
			continue
		}
		o, err := events.ParseOwnerKey(got)
		if err != nil || o != (events.Owner{Kind: tt.kind, ID: tt.id}) {
			t.Errorf("ParseOwnerKey(%q): got %+v %v", got, o, err)
		}
	}
	for _, bad := range []string{"", "item", "item.", "item.a.b", "thing.a", ".a"} {
		if _, err := events.ParseOwnerKey(bad); !errors.Is(err, events.ErrBadOwner) {
			t.Errorf("ParseOwnerKey(%q): got %v, want ErrBadOwner", bad, err)
		}
	}
}
