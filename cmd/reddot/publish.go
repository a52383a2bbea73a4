package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/reddot-dev/reddot"
)

func runPublish(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("publish", stderr)
	url := fs.String("url", "", "server base URL (default: from http-addr)")
	apiKey := fs.String("api-key", "", "publisher API key (default: the configured or generated one)")
	topic := fs.String("topic", "", "publish a message to this topic")
	event := fs.String("event", "message", "event name of a topic message")
	data := fs.String("data", "null", "JSON data of a topic message, or of a notification")
	users := fs.String("users", "", "comma-separated users to notify")
	all := fs.Bool("all", false, "notify every user (a broadcast)")
	category := fs.String("category", "general", "notification category")
	title := fs.String("title", "", "notification title")
	body := fs.String("body", "", "notification body")
	link := fs.String("link", "", "notification url")
	c, err := configOnly(fs, args)
	if err != nil {
		return fail(stderr, err)
	}
	key := *apiKey
	if key == "" {
		if _, err := resolveSecrets(c, false); err != nil {
			return fail(stderr, err)
		}
		key = c.APIKeys[0]
	}
	base := *url
	if base == "" {
		addr := c.HTTPAddr
		if strings.HasPrefix(addr, ":") {
			addr = "localhost" + addr
		}
		base = "http://" + addr
	}
	msg := reddot.Message{}
	switch {
	case *topic != "":
		msg.Topic, msg.Event, msg.Data = *topic, *event, json.RawMessage(*data)
	case *users != "" || *all:
		n := &reddot.NotificationInput{Category: *category, Title: *title, Body: *body, URL: *link}
		if *data != "null" {
			n.Data = json.RawMessage(*data)
		}
		msg.Notification = n
		if *all {
			msg.Audience = "all"
		} else {
			msg.Users = splitComma(*users)
		}
	default:
		return fail(stderr, fmt.Errorf("give --topic, --users or --all"))
	}
	if err := msg.Validate(reddot.Limits{}); err != nil {
		return fail(stderr, fmt.Errorf("%s", reddot.ErrorMessage(err)))
	}
	payload, _ := json.Marshal(msg)
	req, _ := http.NewRequest(http.MethodPost, strings.TrimRight(base, "/")+"/v1/publish", bytes.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fail(stderr, fmt.Errorf("cannot reach %s: %v", base, err))
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fail(stderr, fmt.Errorf("server answered %s: %s", resp.Status, strings.TrimSpace(string(out))))
	}
	fmt.Fprint(stdout, string(out))
	return 0
}
