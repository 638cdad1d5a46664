/** An INI file's sections: section name to its key/value pairs. */
export type IniSections = Map<string, Map<string, string>>;

/**
 * Parses INI text as the AWS shared credentials and config files use it:
 * `[section]` lines, `key = value` lines (keys lower-cased, both sides
 * trimmed), `#` and `;` comment lines. Indented lines continue a nested
 * value (such as `s3 =` with sub-keys) and are skipped; so are keys before
 * the first section and lines that are neither. A repeated section adds to
 * the first; a repeated key keeps the last value.
 */
export function parseIni(text: string): IniSections {
  const sections: IniSections = new Map();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s/.test(raw)) continue;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      const name = header[1]!.trim();
      current = sections.get(name) ?? new Map<string, string>();
      sections.set(name, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0 && current) current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return sections;
}
