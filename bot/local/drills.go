package local

import (
	"context"
	"html/template"
	"net/http"
)

// DrillReports renders the gap drill report (drill.Report) for the drill page.
type DrillReports interface {
	// DrillReport renders the report of the last 90 days as text or png.
	DrillReport(ctx context.Context, format string) ([]byte, error)
}

type drillSource struct{ DrillReports }

// SetDrills turns on the drill page at /chat/drills: the report as text and its TTR
// chart.
func (c *Chat) SetDrills(d DrillReports) {
	c.drills.Store(&drillSource{d})
}

var drillsTmpl = template.Must(template.New("drills").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>warroom · drills</title>
<link rel="stylesheet" href="/chat/static/app.css"></head>
<body class="drills"><main class="drill-report">
<p><a href="/chat/">← rooms</a></p>
<h1>Gap drills, last 90 days</h1>
<p><img src="/chat/drills/ttr.png" alt="Time to resolve per drill run, per scenario" width="768" height="384"></p>
<pre>{{.}}</pre>
</main></body></html>
`))

func (c *Chat) drillsPage(w http.ResponseWriter, r *http.Request) {
	d := c.drills.Load()
	if d == nil {
		http.Error(w, "Drills are not enabled; set drills.enabled: true in the configuration.", http.StatusNotFound)
		return
	}
	txt, err := d.DrillReport(r.Context(), "text")
	if err != nil {
		c.serverError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := drillsTmpl.Execute(w, string(txt)); err != nil {
		c.log.Error("web chat: render drills", "err", err)
	}
}

func (c *Chat) drillsChart(w http.ResponseWriter, r *http.Request) {
	d := c.drills.Load()
	if d == nil {
		http.NotFound(w, r)
		return
	}
	png, err := d.DrillReport(r.Context(), "png")
	if err != nil {
		c.serverError(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}
