import type { BuildResult, Plugin } from 'esbuild';

export function browserPlugin(): Plugin;
export function browserBuild(options: {
  entryPoints: Record<string, string> | string[];
  outdir: string;
  whole?: boolean;
  minify?: boolean;
  metafile?: boolean;
  define?: Record<string, string>;
}): Promise<BuildResult>;
