/**
 * Votes as integer-coded parallel arrays: the one input every aggregation in this folder reads.
 *
 * Why typed arrays: Dawid–Skene must run over a million votes, and an array of per-vote
 * objects costs memory and GC pressure in the inner loop. Items, reviewers and labels are coded
 * as dense integers once, here, and every algorithm loops over Int32Arrays.
 *
 * Labels are generic strings (any K categories); `ignoredLabels` (by default `unsure`) are
 * dropped at the door because an abstention is recorded but is not a label.
 */

export type Key = string | number;

export interface VoteTable {
  /** Number of (kept) votes. */
  readonly length: number;
  /** Per vote: item code in [0, itemKeys.length). */
  readonly item: Int32Array;
  /** Per vote: reviewer code in [0, reviewerKeys.length). */
  readonly reviewer: Int32Array;
  /** Per vote: class code in [0, classes.length). */
  readonly label: Int32Array;
  /** Item code -> the caller's item key. */
  readonly itemKeys: Key[];
  /** Reviewer code -> the caller's reviewer key. */
  readonly reviewerKeys: Key[];
  /** Class code -> label string. */
  readonly classes: string[];
}

export const DEFAULT_IGNORED_LABELS: readonly string[] = ['unsure'];

export interface VoteTableOptions {
  /**
   * Fix the class order (and include classes nobody used). Labels outside this list are an
   * error, so a typo in a CSV does not silently become a new category.
   */
  classes?: readonly string[];
  /** Labels recorded but not counted as labels. Default: `['unsure']`. */
  ignoredLabels?: readonly string[];
}

/** Builds a VoteTable incrementally, growing its arrays geometrically. */
export class VoteTableBuilder {
  private items = new Int32Array(1024);
  private reviewers = new Int32Array(1024);
  private labels = new Int32Array(1024);
  private n = 0;
  private readonly itemCode = new Map<Key, number>();
  private readonly reviewerCode = new Map<Key, number>();
  private readonly classCode = new Map<string, number>();
  private readonly itemKeys: Key[] = [];
  private readonly reviewerKeys: Key[] = [];
  private readonly classes: string[] = [];
  private readonly fixedClasses: boolean;
  private readonly ignored: Set<string>;

  constructor(options: VoteTableOptions = {}) {
    this.ignored = new Set(options.ignoredLabels ?? DEFAULT_IGNORED_LABELS);
    this.fixedClasses = options.classes !== undefined;
    for (const c of options.classes ?? []) {
      if (this.ignored.has(c)) continue;
      if (!this.classCode.has(c)) {
        this.classCode.set(c, this.classes.length);
        this.classes.push(c);
      }
    }
  }

  /** Register an item with no votes yet, so it still gets a (prior) posterior. */
  addItem(item: Key): number {
    let code = this.itemCode.get(item);
    if (code === undefined) {
      code = this.itemKeys.length;
      this.itemCode.set(item, code);
      this.itemKeys.push(item);
    }
    return code;
  }

  /** Adds one vote; returns false when its label is ignored (e.g. `unsure`). */
  add(item: Key, reviewer: Key, label: string): boolean {
    const itemCode = this.addItem(item);
    if (this.ignored.has(label)) return false;
    let classCode = this.classCode.get(label);
    if (classCode === undefined) {
      if (this.fixedClasses) {
        throw new RangeError(`Label "${label}" is not one of ${this.classes.map((c) => `"${c}"`).join(', ')}.`);
      }
      classCode = this.classes.length;
      this.classCode.set(label, classCode);
      this.classes.push(label);
    }
    let reviewerCode = this.reviewerCode.get(reviewer);
    if (reviewerCode === undefined) {
      reviewerCode = this.reviewerKeys.length;
      this.reviewerCode.set(reviewer, reviewerCode);
      this.reviewerKeys.push(reviewer);
    }
    if (this.n === this.items.length) this.grow();
    this.items[this.n] = itemCode;
    this.reviewers[this.n] = reviewerCode;
    this.labels[this.n] = classCode;
    this.n++;
    return true;
  }

  private grow(): void {
    const size = this.items.length * 2;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    this.items = grow(this.items);
    this.reviewers = grow(this.reviewers);
    this.labels = grow(this.labels);
  }

  build(): VoteTable {
    return {
      length: this.n,
      item: this.items.subarray(0, this.n),
      reviewer: this.reviewers.subarray(0, this.n),
      label: this.labels.subarray(0, this.n),
      itemKeys: this.itemKeys,
      reviewerKeys: this.reviewerKeys,
      classes: this.classes,
    };
  }
}

/** Convenience for small inputs: build a table from records. */
export function voteTableFrom(
  votes: Iterable<{ item: Key; reviewer: Key; label: string }>,
  options: VoteTableOptions = {},
): VoteTable {
  const builder = new VoteTableBuilder(options);
  for (const v of votes) builder.add(v.item, v.reviewer, v.label);
  return builder.build();
}

/**
 * Per-item label counts, row-major `[item * K + class]`. A reviewer who voted twice on one item
 * counts twice here; callers store one current vote per reviewer and item, so that never
 * happens with Confab's own data.
 */
export function itemLabelCounts(table: VoteTable): Int32Array {
  const K = table.classes.length;
  const counts = new Int32Array(table.itemKeys.length * K);
  const { item, label } = table;
  for (let v = 0; v < table.length; v++) counts[item[v] * K + label[v]]++;
  return counts;
}
