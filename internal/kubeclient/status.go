package kubeclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"
)

// StatusError is an API server's answer other than success: its HTTP code
// and the message of the Status object it sent. A body that is no Status
// could hold anything (an HTML page, a proxy's echo of the request and its
// credentials) and is not kept.
type StatusError struct {
	Code int
	Msg  string
}

// maxStatusMsg bounds the message kept from a Status.
const maxStatusMsg = 256

// NewStatusError reads an error response's body as a Kubernetes Status.
func NewStatusError(code int, body []byte) *StatusError {
	var st struct {
		Message string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &st) == nil {
		msg = st.Message
	}
	if len(msg) > maxStatusMsg {
		// Cut between runes: half of one would make the error invalid UTF-8.
		cut := maxStatusMsg
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return &StatusError{Code: code, Msg: msg}
}

func (e *StatusError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("kubernetes API: %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("kubernetes API: %d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

// IsStatus reports whether err is an API answer with that code.
func IsStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}
