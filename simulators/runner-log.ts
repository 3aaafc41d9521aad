/**
 * Shows a raw action log the way the runner would: `::add-mask::` registers a value and disappears,
 * every masked value reads `***`, `::error::` / `::warning::` / `::notice::` become annotations, and
 * `::debug::` lines are hidden, as they are unless the run has debug logging on; a group shows its title.
 */
export function renderLikeRunner(raw: string): string {
  const masks: string[] = []
  const out: string[] = []
  const unescape = (s: string): string => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
  for (const line of raw.split('\n')) {
    const mask = /^::add-mask::(.*)$/.exec(line)
    if (mask) {
      masks.push(unescape(mask[1]))
      continue
    }
    if (line.startsWith('::debug::') || line === '::endgroup::') continue
    if (line.startsWith('::group::')) {
      out.push(`▸ ${line.slice('::group::'.length)}`)
      continue
    }
    let text = line
    const command = /^::(error|warning|notice|debug)(?: [^:]*)?::(.*)$/.exec(line)
    if (command) text = `${command[1][0].toUpperCase()}${command[1].slice(1)}: ${unescape(command[2])}`
    for (const value of [...masks].sort((a, b) => b.length - a.length)) text = text.split(value).join('***')
    out.push(text)
  }
  return out.join('\n')
}
