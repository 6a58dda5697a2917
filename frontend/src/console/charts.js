// ECharts, tree-shaken to the charts the dashboard draws (bundled: no CDN at run time).
import { BarChart, HeatmapChart, LineChart, PieChart } from 'echarts/charts';
import {
  GridComponent, LegendComponent, TooltipComponent, VisualMapComponent,
} from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([
  LineChart, BarChart, PieChart, HeatmapChart,
  GridComponent, TooltipComponent, LegendComponent, VisualMapComponent, CanvasRenderer,
]);

const PALETTE = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#64748b'];

/** Draw `option` into `el`; the element gets `data-rendered` once ECharts has finished. */
export function drawChart(el, option) {
  const chart = echarts.init(el, null, { renderer: 'canvas' });
  chart.on('finished', () => { el.dataset.rendered = 'true'; });
  // Canvas text does not inherit the page's fonts: give it the same stack, so Chinese labels
  // use the bundled CJK font where the system has none.
  const fontFamily = getComputedStyle(document.documentElement).fontFamily;
  chart.setOption({ color: PALETTE, animationDuration: 300, textStyle: { fontFamily }, ...option });
  return chart;
}

/** Resolves once the fonts the page has asked for are loaded (canvas text needs them drawn). */
export function fontsReady() {
  return document.fonts && document.fonts.ready ? document.fonts.ready : Promise.resolve();
}
