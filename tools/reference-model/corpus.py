"""Build the corpus from the extracted Debian packages (public-domain text only).

Each document keeps its metadata: source package, language, domain (dictionary or fortune file)
and how many leading bytes are the headword (dictionaries) - the AV targets and the gold claims
are built from it. Writes work/corpus.json.
"""
import glob
import gzip
import hashlib
import json
import os
import re

from common import work, write_json

PKG_ROOT = work('root', 'usr', 'share')

# Fortune files left out: es/off/* are the package's own "offensive" set; the others quote
# recent copyrighted works at length (Asimov, Douglas Adams, Star Trek, a novel, a comedian's
# shows) rather than sayings, so we do not rely on the package's blanket public-domain claim.
EXCLUDE_FORTUNES = {'es/asimov.fortunes', 'es/varios.fortunes-pre', 'it/adams', 'it/itatrek', 'it/jackfr',
                    'it/luttazzi', 'it/banner'}

B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'


def b64num(s):
    n = 0
    for ch in s:
        n = n * 64 + B64.index(ch)
    return n


def reflow(s):
    return re.sub(r'\s+', ' ', s).strip()


def dict_entries(name):
    data = gzip.open(os.path.join(PKG_ROOT, 'dictd', name + '.dict.dz')).read()
    seen = set()
    for line in open(os.path.join(PKG_ROOT, 'dictd', name + '.index'), encoding='utf-8'):
        head, off, ln = line.rstrip('\n').split('\t')[:3]
        if head.startswith('00database') or head.startswith('00-database'):
            continue
        off, ln = b64num(off), b64num(ln)
        if off in seen:
            continue
        seen.add(off)
        yield data[off:off + ln].decode('utf-8')


def jargon_docs():
    for e in dict_entries('jargon'):
        lines = e.strip('\n').split('\n')
        head = lines[0].strip()
        body = reflow(' '.join(lines[1:]))
        if not head or len(body) < 20:
            continue
        yield {'source': 'dict-jargon', 'language': 'English', 'domain': 'jargon', 'text': head + '\n' + body,
               'head_len': len((head + '\n').encode())}


def devil_docs():
    for e in dict_entries('devil'):
        t = e.strip('\n')
        m = re.match(r"^([A-Z][A-Z' .-]*[A-Z.])\s*,", t)
        if not m:
            continue
        head = m.group(1)
        body = reflow(t[m.end():])
        if len(body) < 10:
            continue
        yield {'source': 'dict-devil', 'language': 'English', 'domain': 'satire', 'text': head + ', ' + body,
               'head_len': len((head + ',').encode())}


def fortune_docs(lang_dir, language, pkg):
    for path in sorted(glob.glob(os.path.join(PKG_ROOT, 'games', 'fortunes', lang_dir, '**', '*'), recursive=True)):
        rel = os.path.relpath(path, os.path.join(PKG_ROOT, 'games', 'fortunes'))
        if os.path.isdir(path) or os.path.islink(path) or path.endswith('.dat') or path.endswith('.u8'):
            continue
        if rel.startswith(lang_dir + '/off/') or rel in EXCLUDE_FORTUNES:
            continue
        raw = open(path, 'rb').read()
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError:
            text = raw.decode('latin-1')
        domain = os.path.basename(path).replace('.fortunes', '')
        for f in re.split(r'\n%\n', text):
            t = reflow(f.replace('%', ' ') if f.strip() == '%' else f)
            if len(t) < 10:
                continue
            yield {'source': pkg, 'language': language, 'domain': domain, 'text': t, 'head_len': 0}


def main():
    docs = list(jargon_docs()) + list(devil_docs()) + list(fortune_docs('es', 'Spanish', 'fortunes-es')) + \
        list(fortune_docs('it', 'Italian', 'fortunes-it'))
    uniq, seen = [], set()
    for d in docs:
        if d['text'] in seen:
            continue
        seen.add(d['text'])
        # held-out split by a hash of the text: stable across rebuilds, about 5 %
        h = int(hashlib.sha1(d['text'].encode()).hexdigest()[:8], 16)
        d['split'] = 'test' if h % 20 == 0 else 'train'
        d['id'] = len(uniq)
        uniq.append(d)
    write_json(work('corpus.json'), uniq)
    stats = {}
    for d in uniq:
        s = stats.setdefault(d['source'], {'docs': 0, 'bytes': 0, 'test_docs': 0})
        s['docs'] += 1
        s['bytes'] += len(d['text'].encode())
        s['test_docs'] += d['split'] == 'test'
    write_json(work('corpus_stats.json'), stats, indent=1)
    print(json.dumps(stats, indent=1))


if __name__ == '__main__':
    main()
