// How numbers, durations, sizes, dates and paths read in the window.

export function formatCount(n: number): string {
  return n.toLocaleString();
}

export function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} KB`;
}

export function formatDate(unix: number | null): string {
  return unix === null ? "unknown" : new Date(unix * 1000).toLocaleString();
}

export function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}
