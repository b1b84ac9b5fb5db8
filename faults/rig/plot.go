package rig

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strconv"
)

// Chart is one panel of a plot: a line of Y against X.
type Chart struct {
	Title string // e.g. "RSS (MiB)"
	X, Y  []float64
	// Marks are X positions drawn as dashed vertical lines (e.g. the end
	// of the warm-up).
	Marks []float64
}

// Plot geometry, in pixels.
const (
	plotWidth   = 960
	panelHeight = 200
	marginLeft  = 70
	marginRight = 20
	marginTop   = 28
	marginBot   = 26
	titleHeight = 30
	scale       = 2 // font scale: 10x14 pixel glyphs
)

// palette holds the colours of a plot.
type palette struct{ back, axis, grid, line, mark color.RGBA }

func defaultPalette() palette {
	return palette{
		back: color.RGBA{255, 255, 255, 255},
		axis: color.RGBA{60, 60, 60, 255},
		grid: color.RGBA{225, 225, 225, 255},
		line: color.RGBA{20, 90, 200, 255},
		mark: color.RGBA{200, 60, 40, 255},
	}
}

// WritePNG draws charts stacked in one PNG, each with its own y range,
// sharing xLabel, under title.
func WritePNG(w io.Writer, title, xLabel string, charts []Chart) error {
	h := titleHeight + len(charts)*(panelHeight+marginTop+marginBot)
	img := image.NewRGBA(image.Rect(0, 0, plotWidth, h))
	p := defaultPalette()
	fill(img, img.Bounds(), p.back)
	text(img, marginLeft, 8, title, p.axis)
	for i, c := range charts {
		top := titleHeight + i*(panelHeight+marginTop+marginBot) + marginTop
		panel(img, p, image.Rect(marginLeft, top, plotWidth-marginRight, top+panelHeight), c, xLabel)
	}
	return png.Encode(w, img)
}

func panel(img *image.RGBA, p palette, r image.Rectangle, c Chart, xLabel string) {
	text(img, r.Min.X, r.Min.Y-20, c.Title, p.axis)
	x0, x1 := bounds(c.X)
	y0, y1 := bounds(c.Y)
	if y0 > 0 && y0 < (y1-y0)*0.5 {
		y0 = 0 // start at zero unless the values sit far above it
	}
	if y1 == y0 {
		y1 = y0 + 1
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	px := func(x float64) int { return r.Min.X + int(math.Round((x-x0)/(x1-x0)*float64(r.Dx()-1))) }
	py := func(y float64) int { return r.Max.Y - 1 - int(math.Round((y-y0)/(y1-y0)*float64(r.Dy()-1))) }
	for k := 0; k <= 4; k++ {
		y := y0 + (y1-y0)*float64(k)/4
		line(img, r.Min.X, py(y), r.Max.X-1, py(y), p.grid)
		s := label(y)
		text(img, r.Min.X-8-len(s)*6*scale, py(y)-7, s, p.axis)
	}
	for _, m := range c.Marks {
		for y := r.Min.Y; y < r.Max.Y; y += 6 {
			line(img, px(m), y, px(m), min(y+3, r.Max.Y-1), p.mark)
		}
	}
	line(img, r.Min.X, r.Min.Y, r.Min.X, r.Max.Y-1, p.axis)
	line(img, r.Min.X, r.Max.Y-1, r.Max.X-1, r.Max.Y-1, p.axis)
	for k := 0; k <= 4; k++ {
		x := x0 + (x1-x0)*float64(k)/4
		s := label(x)
		if k == 4 {
			s += " " + xLabel
		}
		tx := px(x) - len(s)*6*scale/2
		if k == 4 {
			tx = r.Max.X - len(s)*6*scale
		}
		text(img, max(tx, r.Min.X), r.Max.Y+6, s, p.axis)
	}
	for i := 1; i < len(c.X) && i < len(c.Y); i++ {
		line(img, px(c.X[i-1]), py(c.Y[i-1]), px(c.X[i]), py(c.Y[i]), p.line)
	}
}

func bounds(v []float64) (lo, hi float64) {
	if len(v) == 0 {
		return 0, 1
	}
	lo, hi = v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// label formats an axis value with at most 3 significant decimals.
func label(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws from (x0,y0) to (x1,y1), both ends included (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e // once for both steps: recomputing it can step past the end
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// text draws s with its top left corner at (x, y).
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		for row, cells := range glyph(r) {
			for col, cell := range cells {
				if cell == '#' {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += 6 * scale
	}
}

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
