package webhookd

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
)

// httpError is what a handler returns to end a request: Code and Message go to
// the client; Err, the cause, only to logs.
type httpError struct {
	Status  int
	Code    string
	Message string
	Err     error
}

func (e *httpError) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *httpError) Unwrap() error { return e.Err }

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeError is echo's single error funnel: it maps our errors and echo's own
// (404, 405, recovered panics) to a status and safe text.
func writeError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := http.StatusInternalServerError, "internal", "internal error"
	var he *httpError
	var ee *echo.HTTPError
	switch {
	case errors.As(err, &he):
		status, code, msg = he.Status, he.Code, he.Message
	case errors.As(err, &ee) && ee.Code < 500:
		status, msg = ee.Code, http.StatusText(ee.Code)
		code = map[int]string{
			http.StatusNotFound:              "not_found",
			http.StatusMethodNotAllowed:      "method_not_allowed",
			http.StatusRequestEntityTooLarge: "too_large",
		}[ee.Code]
		if code == "" {
			code = "bad_request"
		}
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	_ = c.JSON(status, body) // the client went away; nothing left to do
}
