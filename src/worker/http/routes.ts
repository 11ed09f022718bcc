/** Every endpoint of the worker, in one table. */
import { analyzeRoute } from './analyze';
import { capabilitiesRoute } from './capabilities';
import { describeRoute } from './describe';
import { explainRoute } from './explain';
import { healthRoute } from './health';
import { nlaHealthRoute } from './nla-health';
import type { Route } from './route';
import { scoreRoute } from './score';
import { tokenizeRoute } from './tokenize';
import { topkByTokenRoute } from './topk-by-token';

export const ROUTES: readonly Route[] = [
  healthRoute,
  nlaHealthRoute,
  capabilitiesRoute,
  analyzeRoute,
  tokenizeRoute,
  explainRoute,
  describeRoute,
  scoreRoute,
  topkByTokenRoute,
];
