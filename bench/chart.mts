/**
 * bench/ratios.svg: a horizontal bar per row with a ts-mls figure, its ratio on a log scale.
 * Hand-written SVG text, no charting dependency.
 */
import type { Evaluated } from './rows.mjs'

const WIDTH = 980
const LABEL_RIGHT = 350
const PLOT_LEFT = 360
const PLOT_RIGHT = 920
const ROW = 20
const BAR = 13
const TOP = 56
const COLORS = ['#3b6fb6', '#2a9d8f', '#e9a23b', '#8a5cc2', '#d1495b', '#5c946e', '#6c757d', '#264653']

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const ratioText = (r: number) => `${r >= 10 ? r.toFixed(0) : r.toFixed(r >= 1 ? 1 : 2)}×`

/** The SVG text of the chart. */
export function ratioChart(evaluated: Evaluated[], title: string): string {
  const bars = evaluated.filter((e) => e.ratio !== undefined && e.ratio > 0)
  const ratios = bars.map((e) => e.ratio!)
  const lo = Math.min(1, 10 ** Math.floor(Math.log10(Math.min(...ratios, 1))))
  const hi = Math.max(10, 10 ** Math.ceil(Math.log10(Math.max(...ratios, 1))))
  const x = (r: number) => PLOT_LEFT + ((Math.log10(r) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (PLOT_RIGHT - PLOT_LEFT)

  const body: string[] = []
  let y = TOP
  let section = ''
  let color = -1
  for (const e of bars) {
    if (e.row.section !== section) {
      section = e.row.section
      color = (color + 1) % COLORS.length
      y += 6
      body.push(`<text x="8" y="${y + 12}" font-weight="bold" fill="${COLORS[color]}">${xml(section)}</text>`)
      y += ROW
    }
    const w = Math.max(1, x(e.ratio!) - PLOT_LEFT)
    body.push(`<text x="${LABEL_RIGHT}" y="${y + 11}" text-anchor="end">${xml(e.row.short)}</text>`)
    body.push(`<rect x="${PLOT_LEFT}" y="${y + 1}" width="${w.toFixed(1)}" height="${BAR}" fill="${COLORS[color]}"><title>${xml(`${e.row.label}: ${ratioText(e.ratio!)}`)}</title></rect>`)
    body.push(`<text x="${(PLOT_LEFT + w + 4).toFixed(1)}" y="${y + 11}">${ratioText(e.ratio!)}</text>`)
    y += ROW
  }
  const height = y + 40

  const grid: string[] = []
  for (let decade = lo; decade < hi * 1.0001; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const r = decade * m
      if (r > hi * 1.0001) break
      const gx = x(r).toFixed(1)
      const major = m === 1
      grid.push(`<line x1="${gx}" y1="${TOP - 4}" x2="${gx}" y2="${y}" stroke="${r === 1 ? '#d1495b' : major ? '#bbb' : '#e3e3e3'}" stroke-width="${r === 1 ? 1.5 : 1}"/>`)
      grid.push(`<text x="${gx}" y="${y + 16}" text-anchor="middle" fill="#555">${ratioText(r)}</text>`)
    }
  }

  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="8" y="22" font-size="15" font-weight="bold">${xml(title)}</text>`,
    `<text x="8" y="40" fill="#555">ts-mls time (or lag, or memory) ÷ openmls-node's, same run; log scale; right of the red line, openmls-node is ahead</text>`,
    ...grid,
    ...body,
    `<text x="${WIDTH - 8}" y="${height - 6}" text-anchor="end" fill="#777">bench/RESULTS.md has every figure</text>`,
    '</svg>',
    '',
  ].join('\n')
}
