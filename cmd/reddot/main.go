// Command reddot is the push server, its operator tools and its load tool.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

var version = "dev"

const usage = `reddot — real-time push over SSE, WebSocket, polling, iframe and MQTT

Usage:
  reddot serve [flags]       run the server (--demo adds a demo page)
  reddot publish [flags]     send a topic message or a notification
  reddot token --user ID     mint a subscriber token from the configured secret
  reddot bench [flags]       load-test a server: N subscribers, M events, latency
  reddot version             print the version

Run "reddot <command> -h" for a command's flags.
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "publish":
		return runPublish(args[1:], stdout, stderr)
	case "token":
		return runToken(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "reddot", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "reddot: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return version
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("reddot "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// fail prints one clear line and returns the exit code.
func fail(stderr io.Writer, err error) int {
	if err == flag.ErrHelp {
		return 0
	}
	fmt.Fprintf(stderr, "reddot: %v\n", err)
	return 1
}
