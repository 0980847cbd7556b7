/**
 * Test strings for the tokenizer: hand-written cases per category plus seeded random mixes of
 * fragments from every category and random Unicode scalar values. Deterministic.
 */

export interface CorpusEntry {
  category: string;
  text: string;
}

const HAND_WRITTEN: Record<string, string[]> = {
  whitespace: ['', ' ', '  ', '     leading', 'trailing     ', 'a  b   c    d', '\t', '\t\tindented\ttabs\t', '\n', '\n\n', '\n\n\n\n', 'line1\nline2\r\nline3\rline4', ' \n \t \n', '\u00a0nbsp\u00a0', '\u3000ideographic\u3000space', 'x\u2028y\u2029z', ' '.repeat(64), '\n'.repeat(40), '\t'.repeat(33), 'end with newline\n'],
  code: [
    'def fib(n: int) -> int:\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n',
    'const f = async (x) => { await x?.y ?? 0; return `t=${x}`; };',
    'fn main() {\n    let v: Vec<u8> = vec![1, 2, 3];\n    println!("{:?}", v);\n}',
    '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }',
    'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("héllo") }',
    'SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;',
    '<div class="card"><p>Hello &amp; welcome</p><br/></div>',
    '{"key": [1, 2.5, -3e10, null, true], "nested": {"a": "b"}}',
    'for i in $(seq 1 10); do echo "$i" | grep -E \'^[0-9]+$\' >> out.txt; done',
    '\tif (x != y && z <= 0x7fff) {\n\t\treturn ~mask >> 2;\n\t}',
    'public static void main(String[] args) { System.out.println("Hi"); }',
    '@@ -1,3 +1,4 @@\n-old line\n+new line\n context',
    '    indented by four\n        by eight\n            by twelve',
    'x = [i**2 for i in range(10) if i % 3 == 0]  # squares',
    '$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$',
  ],
  emoji: ['👍', '👍🏻👍🏼👍🏽👍🏾👍🏿', '👨‍👩‍👧‍👦', '👩🏽‍💻 and 🧑🏿‍🚀', '🏳️‍🌈🏴‍☠️', '🇺🇸🇯🇵🇩🇪🇧🇷', '1️⃣2️⃣#️⃣', '❤️‍🔥 ❤️ ♥', '🫠🫶🪿🩷', 'I ❤ NY 🗽!!', '😀😃😄😁😆😅🤣😂🙂🙃'],
  cjk: ['你好，世界！', '我爱自然语言处理。', '日本語のテキストです。カタカナもひらがなも。', '한국어 문장입니다.', '漢字かな交じり文', '繁體中文測試：臺灣', '𠀀𠀁𪚥 (CJK extension B)', '全角ＡＢＣ１２３'],
  rtl: ['مرحبا بالعالم', 'اللغة العربية جميلة جداً', 'שלום עולם', 'עברית: טקסט מימין לשמאל', 'mixed עברית and English', '\u200fRTL mark\u200e LTR mark', 'الرقم 12345 في النص'],
  indic: ['नमस्ते दुनिया', 'हिन्दी में लिखा गया वाक्य।', 'ক্ষ বাংলা', 'தமிழ் மொழி', 'ಕನ್ನಡ', 'สวัสดีครับ ภาษาไทย', 'ພາສາລາວ'],
  mixed: ['Hello мир 世界 العالم עולם दुनिया 🌍', 'Ελληνικά και Русский и English', 'Ünïcödé çåfé naïve façade', 'e\u0301 vs é (NFD vs NFC)', 'ﬁ ﬂ ﬀ ligatures', 'zero\u200bwidth\u200cjoiners\u200d', '\ufeffBOM at start', 'a\u0000b\u0001c\u001fd\u007f', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝟘𝟙𝟚', '𓀀𓁐𓂀 hieroglyphs', '\ufffd replacement char', 'Ⅻ ½ ² ℃ №'],
  numbers: ['0', '42', '3.14159265358979323846264338327950288419716939937510', '-1,234,567.89', '1e-10 6.022e23', '12345678901234567890123456789012345678901234567890', '0x1F 0b1010 0o777', '2024-01-31T23:59:59Z', '+1 (555) 010-9999', '１２３４５'],
  urls: ['https://huggingface.co/google/gemma-3n-E4B-it/resolve/main/tokenizer.json', 'http://localhost:8080/path?query=a%20b&x=1#frag', 'mailto:someone@example.com', 'ftp://user:pass@host/file.tar.gz', 'www.example.org/über/straße', 'C:\\Users\\name\\file.txt', '/usr/lib/chromium/vk_swiftshader_icd.json'],
  special: ['<start_of_turn>', '<end_of_turn>', '<bos>', '<eos>', '<pad>', '<unk>', '<start_of_image>', '<end_of_image>', '<image_soft_token>', '<mask>', '<unused0>', '<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n', 'text<bos>more<eos>end', '<start_of_turn', 'start_of_turn>', '<<bos>>', '< bos >', '<bos><bos><bos>', '<start_of_turn>model\n<end_of_turn>'],
};

const FRAGMENTS = Object.values(HAND_WRITTEN)
  .flat()
  .filter((s) => s.length > 0 && s.length < 80)
  .concat(['the', ' quick', ' brown', ' fox', ',', '.', '!', '?', ' ', '  ', '\n', '\t', '...', '—', '"', "'", '(', ')', '-', '_', '/', '\\', '0', '7', '99', '2026']);

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random Unicode scalar value: mostly BMP, some astral, never a surrogate. */
function randomScalar(rand: () => number): string {
  const r = rand();
  let cp: number;
  if (r < 0.3) cp = 0x20 + Math.floor(rand() * 0x5f);
  else if (r < 0.85) cp = Math.floor(rand() * 0x10000);
  else cp = 0x10000 + Math.floor(rand() * 0x100000);
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
  return String.fromCodePoint(cp);
}

export function buildCorpus(): CorpusEntry[] {
  const out: CorpusEntry[] = [];
  for (const [category, texts] of Object.entries(HAND_WRITTEN)) for (const text of texts) out.push({ category, text });

  const rand = mulberry32(20250627);
  for (let i = 0; i < 160; i++) {
    const n = 1 + Math.floor(rand() * 12);
    let text = '';
    for (let k = 0; k < n; k++) text += FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)];
    out.push({ category: 'fragment-mix', text });
  }
  for (let i = 0; i < 60; i++) {
    const n = 1 + Math.floor(rand() * 40);
    let text = '';
    for (let k = 0; k < n; k++) text += randomScalar(rand);
    out.push({ category: 'random-scalars', text });
  }
  for (let i = 0; i < 20; i++) {
    const n = 1 + Math.floor(rand() * 200);
    let text = '';
    for (let k = 0; k < n; k++) text += rand() < 0.5 ? ' ' : rand() < 0.5 ? '\t' : '\n';
    out.push({ category: 'whitespace-runs', text });
  }

  const paragraph = HAND_WRITTEN.mixed.join(' ') + '\n' + HAND_WRITTEN.code.join('\n');
  out.push({ category: 'long', text: paragraph.repeat(12) });
  out.push({ category: 'long', text: '1234567890'.repeat(1500) });
  out.push({ category: 'long', text: 'word '.repeat(6000) });
  out.push({ category: 'long', text: '你好世界'.repeat(2000) + '🌍'.repeat(500) });
  return out;
}
