package webhookd

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// newPublicHandler is the public listener's whole surface: POST
// /plaid/webhook. Operator endpoints live on the admin listener.
func newPublicHandler(h *webhookHandler, onPanic func(error)) http.Handler {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = writeError
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisablePrintStack: true,
		LogErrorFunc: func(_ echo.Context, err error, _ []byte) error {
			onPanic(err)
			return err
		},
	}))
	e.POST("/plaid/webhook", h.handle)
	return e
}
