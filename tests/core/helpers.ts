/** Shared pieces of the core integration suites: actors, and running commands as a channel would. */
import { expect } from 'vitest';
import type { CommandResult } from '../../commands/types';
import type { Actor } from '../../src/core/actor';
import { invokeCommand } from '../../commands/invoke';
import type { Services } from '../../src/core/services';
import type { AnalysisView, ErrorView, View } from '../../src/core/view';

export function actor(userId: string, extra: Partial<Actor> = {}): Actor {
  return { platform: 'terminal', workspaceId: 'local', channelId: 'main', userId, displayName: userId, isAdmin: false, ...extra };
}

export async function run(services: Services, who: Actor, command: string, options: Record<string, unknown> = {}): Promise<CommandResult> {
  return invokeCommand(services, who, command, options);
}

/** Runs a command that must fail, returning its ErrorView. */
export async function runError(services: Services, who: Actor, command: string, options: Record<string, unknown> = {}): Promise<ErrorView> {
  const result = await invokeCommand(services, who, command, options);
  expect(result.view.kind, JSON.stringify(result.view)).toBe('error');
  return result.view as ErrorView;
}

/** /explain, then the view the channel would show when the analysis finished. */
export async function explainAndWait(services: Services, who: Actor, options: Record<string, unknown>): Promise<AnalysisView> {
  const result = await invokeCommand(services, who, 'explain', options);
  expect(result.view.kind, JSON.stringify(result.view)).toBe('analysis');
  expect(result.followUp).toBeDefined();
  const finished: View = await result.followUp!;
  expect(finished.kind).toBe('analysis');
  return finished as AnalysisView;
}

export function explanationIds(view: AnalysisView): number[] {
  return view.positions.flatMap((p) => p.explanations.map((e) => e.explanationId));
}
