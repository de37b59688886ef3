import type { Registry } from "prom-client";

/** Label values of one series, by label name. */
export type Labels = Readonly<Record<string, string>>;

/** One sample as prom-client's registry formats it. */
interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A metric family in the shape prom-client's Registry formats (`name`, `help`, `type`,
 * `get()`), whose series are plain objects made once per label set: recording is a field
 * update, with no label hashing, validation or allocation per observation, which prom-client's
 * own `labels().observe()` does on every call. Values are read only when Prometheus scrapes.
 */
abstract class Family<Cell> {
  readonly aggregator = "sum";
  private readonly cells: { labels: Labels; cell: Cell }[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series for these label values, made on first use; keep it and record on it. */
  series(labels: Labels): Cell {
    const key = JSON.stringify(labels);
    const found = this.cells.find((c) => JSON.stringify(c.labels) === key);
    if (found) return found.cell;
    const cell = this.newCell();
    this.cells.push({ labels, cell });
    return cell;
  }

  /** Called by the registry at scrape time. */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: Sample[];
    aggregator: string;
  }> {
    const values = this.cells.flatMap(({ labels, cell }) => this.samples(labels, cell));
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  protected abstract newCell(): Cell;
  protected abstract samples(labels: Labels, cell: Cell): Sample[];
}

/** A counter or gauge series: one number. */
export class Scalar {
  value = 0;
}

/** A counter family; series only go up (`series(labels).value++`). */
export class CounterFamily extends Family<Scalar> {
  constructor(name: string, help: string, registry: Registry) {
    super(name, help, "counter", registry);
  }
  protected newCell(): Scalar {
    return new Scalar();
  }
  protected samples(labels: Labels, cell: Scalar): Sample[] {
    return [{ labels: { ...labels }, value: cell.value }];
  }
}

/** A gauge family; series go up and down, or are set. */
export class GaugeFamily extends Family<Scalar> {
  constructor(name: string, help: string, registry: Registry) {
    super(name, help, "gauge", registry);
  }
  protected newCell(): Scalar {
    return new Scalar();
  }
  protected samples(labels: Labels, cell: Scalar): Sample[] {
    return [{ labels: { ...labels }, value: cell.value }];
  }
}

/** One histogram series: a count per bucket (not cumulative until scraped), sum and count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Records one value (seconds); a value above the last bound counts only in +Inf. */
  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

/** A histogram family with fixed bucket bounds. */
export class HistogramFamily extends Family<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, "histogram", registry);
  }
  protected newCell(): HistogramSeries {
    return new HistogramSeries(this.bounds);
  }
  protected samples(labels: Labels, cell: HistogramSeries): Sample[] {
    let cumulative = 0;
    const buckets = this.bounds.map((le, i) => {
      cumulative += cell.counts[i];
      return { metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative };
    });
    return [
      ...buckets,
      { metricName: `${this.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: cell.count },
      { metricName: `${this.name}_sum`, labels: { ...labels }, value: cell.sum },
      { metricName: `${this.name}_count`, labels: { ...labels }, value: cell.count },
    ];
  }
}
