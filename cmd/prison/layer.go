package main

import (
	"errors"
	"time"

	"prison/prison"
)

// deleteJail stops the jail name, as stopJail does, and with purge then
// removes its kept layer (--image): prison delete --purge. A name with a
// layer and no running jail only loses its layer.
func deleteJail(name string, timeout *time.Duration, purge bool) error {
	err := stopJail(name, timeout)
	if !purge {
		return err
	}
	noJail := errors.As(err, new(*prison.NoJailError))
	if err != nil && !noJail {
		return err
	}
	perr := prison.RemoveLayer(name)
	switch {
	case errors.Is(perr, prison.ErrNoLayer) && noJail:
		return err // neither a jail nor a layer: no such jail
	case errors.Is(perr, prison.ErrNoLayer):
		return nil // a jail that had no layer of its own
	}
	return perr
}
