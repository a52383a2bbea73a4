package main

import (
	"context"
	"net/http"
)

// openMQTT starts the embedded MQTT broker (TCP on --mqtt-addr) and adds
// its Close to m.closer. Not built yet: MQTT arrives with the MQTT issue.
func (m *Main) openMQTT(ctx context.Context) error { return nil }

// mountMQTT adds MQTT over WebSocket at /mqtt.
func (m *Main) mountMQTT(mux *http.ServeMux) {}
