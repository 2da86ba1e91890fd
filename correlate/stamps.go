package correlate

import (
	"cmp"
	"time"
)

// stamp is a time.Time in two thirds of its size and without a pointer:
// seconds and nanoseconds since 1970 (every time.Time has them, the zero
// time included) and, in zones, which of the store's locations it is in.
// The history holds one per refresh and two per address; the location is
// kept because the times of facts reach alerts as logged (an event's zone
// is the one --timezone gave, or UTC).
type stamp struct {
	sec  int64
	nsec int32
	loc  uint8 // zones[loc-1]; 0 is UTC
}

// instant is the stamp's time for comparisons, in no particular zone.
func (s stamp) instant() time.Time { return time.Unix(s.sec, int64(s.nsec)) }

// maxZones bounds the locations a store tells apart; past it a time is
// kept in UTC (the same instant, printed in UTC). One process parses in
// one location; a checkpoint's times decode into a fixed zone each, which
// zoneOf recognises as the same zone.
const maxZones = 255

// zones are the locations a store's stamps refer to.
type zones []*time.Location

func (z *zones) stamp(t time.Time) stamp {
	s := instantOf(t)
	s.loc = z.zoneOf(t)
	return s
}

// instantOf is t's stamp in UTC: enough to compare with, where the zone
// a stamp is printed in does not matter.
func instantOf(t time.Time) stamp { return stamp{sec: t.Unix(), nsec: int32(t.Nanosecond())} }

func (z *zones) zoneOf(t time.Time) uint8 {
	loc := t.Location()
	if loc == time.UTC {
		return 0
	}
	for i, l := range *z {
		if l == loc {
			return uint8(i + 1)
		}
	}
	// A fixed zone decoded from JSON is a new Location each time: one of
	// the same name and offset is the same zone.
	name, off := t.Zone()
	for i, l := range *z {
		if n, o := t.In(l).Zone(); n == name && o == off && l.String() == loc.String() {
			return uint8(i + 1)
		}
	}
	if len(*z) >= maxZones {
		return 0
	}
	*z = append(*z, loc)
	return uint8(len(*z))
}

// time is the stamp as the time.Time it was made from.
func (z zones) time(s stamp) time.Time {
	t := time.Unix(s.sec, int64(s.nsec))
	if s.loc == 0 {
		return t.UTC()
	}
	return t.In(z[s.loc-1])
}

// compare orders stamps as their instants: -1 if s is before o, +1 if
// after, 0 if the same instant.
func (s stamp) compare(o stamp) int {
	switch {
	case s.sec != o.sec:
		return cmp.Compare(s.sec, o.sec)
	default:
		return cmp.Compare(s.nsec, o.nsec)
	}
}

func (s stamp) before(o stamp) bool { return s.compare(o) < 0 }

// within is within(s.instant(), now.instant(), d) without making either a
// time.Time: time.Add and Before made up most of the test of the least
// recently seen user that every event makes. It adds d as time.Add does.
func (s stamp) within(now stamp, d time.Duration) bool {
	sec, nsec := s.sec+int64(d/time.Second), s.nsec+int32(d%time.Second)
	if nsec >= 1e9 {
		sec++
		nsec -= 1e9
	} else if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return !stamp{sec: sec, nsec: nsec}.before(now)
}
