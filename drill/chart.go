package drill

import (
	"fmt"
	"image/color"
	"io"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Chart size.
const (
	ChartWidth  = 8 * vg.Inch
	ChartHeight = 4 * vg.Inch
)

// Chart plots TTR (minutes) over time, one line per scenario, and real incidents'
// TTR as points.
func (r *Report) Chart() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Time to resolve, %s to %s", r.Since.Format("2006-01-02"), r.Until.Format("2006-01-02"))
	p.X.Label.Text = "run"
	p.Y.Label.Text = "TTR (minutes)"
	p.X.Tick.Marker = plot.TimeTicks{Format: "Jan 02"}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	series := map[string]plotter.XYs{}
	for _, row := range r.Runs {
		if row.Measures == nil || row.Measures.TTR == nil {
			continue
		}
		series[row.Scenario] = append(series[row.Scenario], plotter.XY{X: float64(row.At.Unix()), Y: *row.Measures.TTR / 60})
	}
	names := keys(series)
	var args []any
	for _, n := range names {
		pts := series[n]
		sort.Slice(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
		args = append(args, n, pts)
	}
	if len(args) > 0 {
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return nil, fmt.Errorf("chart: %w", err)
		}
	} else {
		// An empty period still draws its axes over the period.
		p.X.Min, p.X.Max = float64(r.Since.Unix()), float64(r.Until.Unix())
		p.Y.Max = 60
		p.Title.Text += " (no finished drill)"
	}
	p.Legend.Top = true
	p.BackgroundColor = color.White
	return p, nil
}

// WritePNG renders the chart as a PNG.
func (r *Report) WritePNG(w io.Writer) error {
	p, err := r.Chart()
	if err != nil {
		return err
	}
	wt, err := p.WriterTo(ChartWidth, ChartHeight, "png")
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	_, err = wt.WriteTo(w)
	return err
}
