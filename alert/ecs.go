package alert

// The Elastic Common Schema encoding of an Alert, which the file sink
// writes with --alerts-format ecs.

// eCSVersion is the Elastic Common Schema version the ECS form follows.
const eCSVersion = "8.11.0"

// ECSDocument is an alert in Elastic Common Schema names. ECS core fields
// carry what has a home there (@timestamp, event.*, source.ip, source.geo.*,
// source.as.*, user.name, rule.*, url.original, log.file.path); the rest
// (previous refresh, session, travel) lives under "graceguard", ECS's
// advice for custom fields.
type ECSDocument struct {
	Timestamp  string      `json:"@timestamp"`
	Message    string      `json:"message"`
	ECS        ecsVersion  `json:"ecs"`
	Event      ecsEvent    `json:"event"`
	Rule       ecsRule     `json:"rule"`
	User       ecsUser     `json:"user"`
	Source     *ecsSource  `json:"source,omitempty"`
	URL        *ecsURL     `json:"url,omitempty"`
	Log        *ecsLog     `json:"log,omitempty"`
	Related    ecsRelated  `json:"related"`
	Graceguard ecsCustom   `json:"graceguard"`
	Observer   ecsObserver `json:"observer"`
}

type ecsVersion struct {
	Version string `json:"version"`
}

type ecsEvent struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Category  []string `json:"category"`
	Type      []string `json:"type"`
	Action    string   `json:"action"`
	Severity  int      `json:"severity"`
	RiskScore float64  `json:"risk_score"`
	Module    string   `json:"module"`
	Dataset   string   `json:"dataset"`
	Provider  string   `json:"provider,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Original  string   `json:"original,omitempty"`
}

type ecsRule struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Ruleset     string `json:"ruleset"`
}

type ecsUser struct {
	Name string `json:"name"`
}

type ecsSource struct {
	IP  string  `json:"ip"`
	Geo *ecsGeo `json:"geo,omitempty"`
	AS  *ecsAS  `json:"as,omitempty"`
}

type ecsGeo struct {
	CountryISOCode string       `json:"country_iso_code,omitempty"`
	CityName       string       `json:"city_name,omitempty"`
	Location       *ecsLocation `json:"location,omitempty"`
}

type ecsLocation struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

type ecsAS struct {
	Number       uint    `json:"number,omitempty"`
	Organization *ecsOrg `json:"organization,omitempty"`
}

type ecsOrg struct {
	Name string `json:"name"`
}

type ecsURL struct {
	Original string `json:"original"`
}

type ecsLog struct {
	File ecsLogFile `json:"file"`
}

type ecsLogFile struct {
	Path string `json:"path"`
}

type ecsRelated struct {
	IP   []string `json:"ip,omitempty"`
	User []string `json:"user,omitempty"`
}

type ecsObserver struct {
	Product string `json:"product"`
	Type    string `json:"type"`
}

type ecsCustom struct {
	Session    string     `json:"session,omitempty"`
	IdP        string     `json:"idp,omitempty"`
	PrevIP     string     `json:"prev_ip,omitempty"`
	PrevTime   string     `json:"prev_time,omitempty"`
	PrevGeo    *ecsGeo    `json:"prev_geo,omitempty"`
	PrevAS     *ecsAS     `json:"prev_as,omitempty"`
	DistanceKm *float64   `json:"distance_km,omitempty"`
	SpeedKmh   *float64   `json:"speed_kmh,omitempty"`
	IntervalMs *int64     `json:"interval_ms,omitempty"`
	RadiusKm   *ecsRadius `json:"radius_km,omitempty"`
}

type ecsRadius struct {
	Source int `json:"source,omitempty"`
	Prev   int `json:"prev,omitempty"`
}

// riskScore maps severities onto ECS's 0-100 event.risk_score.
var riskScore = map[Severity]float64{Info: 10, Low: 25, Medium: 50, High: 75, Critical: 100}

// ECS returns a in Elastic Common Schema names.
func ECS(a Alert) ECSDocument {
	d := ECSDocument{
		Timestamp: a.Time.UTC().Format(TimeFormat),
		Message:   a.Summary,
		ECS:       ecsVersion{eCSVersion},
		Event: ecsEvent{
			ID: a.ID, Kind: "alert", Category: []string{"authentication", "session"}, Type: []string{"info"},
			Action: a.Rule, Severity: int(a.Severity), RiskScore: riskScore[a.Severity],
			Module: "graceguard", Dataset: "graceguard.alert", Provider: "openunison", Reason: a.Summary, Original: a.Raw,
		},
		Rule:       ecsRule{Name: a.Rule, Description: a.Description, Ruleset: "graceguard"},
		User:       ecsUser{Name: a.User},
		Observer:   ecsObserver{Product: "graceguard", Type: "ids"},
		Graceguard: ecsCustom{Session: a.Session, IdP: a.IdP, PrevIP: a.PrevIP, DistanceKm: a.DistanceKm, SpeedKmh: a.SpeedKmh, IntervalMs: a.IntervalMs},
	}
	if a.User != "" {
		d.Related.User = []string{a.User}
	}
	if a.IP != "" {
		d.Source = &ecsSource{IP: a.IP, Geo: ecsGeoOf(a.Geo), AS: ecsASOf(a.Geo)}
		d.Related.IP = append(d.Related.IP, a.IP)
	}
	if a.PrevIP != "" && a.PrevIP != a.IP {
		d.Related.IP = append(d.Related.IP, a.PrevIP)
	}
	if !a.PrevTime.IsZero() {
		d.Graceguard.PrevTime = a.PrevTime.UTC().Format(TimeFormat)
	}
	d.Graceguard.PrevGeo, d.Graceguard.PrevAS = ecsGeoOf(a.PrevGeo), ecsASOf(a.PrevGeo)
	if a.Geo != nil && a.Geo.RadiusKm > 0 || a.PrevGeo != nil && a.PrevGeo.RadiusKm > 0 {
		r := &ecsRadius{}
		if a.Geo != nil {
			r.Source = a.Geo.RadiusKm
		}
		if a.PrevGeo != nil {
			r.Prev = a.PrevGeo.RadiusKm
		}
		d.Graceguard.RadiusKm = r
	}
	if a.URL != "" {
		d.URL = &ecsURL{Original: a.URL}
	}
	if a.Source != "" {
		d.Log = &ecsLog{File: ecsLogFile{Path: a.Source}}
	}
	return d
}

func ecsGeoOf(g *Geo) *ecsGeo {
	if g == nil || (g.Country == "" && g.City == "" && (g.Lat == nil || g.Lon == nil)) {
		return nil
	}
	e := &ecsGeo{CountryISOCode: g.Country, CityName: g.City}
	if g.Lat != nil && g.Lon != nil {
		e.Location = &ecsLocation{Lat: *g.Lat, Lon: *g.Lon}
	}
	return e
}

func ecsASOf(g *Geo) *ecsAS {
	if g == nil || (g.ASN == 0 && g.Org == "") {
		return nil
	}
	as := &ecsAS{Number: g.ASN}
	if g.Org != "" {
		as.Organization = &ecsOrg{Name: g.Org}
	}
	return as
}
