#!/usr/bin/env python3
"""Module import graph of src/ and its cycles (docs/ARCHITECTURE.md).

Every file is a module (src/a/mod.rs is `a`, src/a/b.rs is `a::b`). An edge
m -> n for each path that names n from m: `crate::...`, `super::...`,
`self::...` in `use` items and in code (comments and strings stripped),
resolved to the longest module prefix. Edges between a module and its own
ancestors/descendants (mod.rs declaring/re-exporting its children, children
using their parent's items) are reported apart: a cycle that matters joins
modules that do not contain each other; the exit status is 1 when there is
one. Known blind spot: a unit-test module inside a file (`mod tests`) is read
as part of its file, so its `super::` is taken one level too high.
Usage: python3 .ci/module_cycles.py [src]"""
import os, re, sys
root = sys.argv[1] if len(sys.argv) > 1 else 'src'
mods = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'):
            continue
        p = os.path.join(d, f)
        rel = os.path.relpath(p, root)[:-3].split(os.sep)
        if rel[-1] in ('mod', 'lib', 'main'):
            rel = rel[:-1]
        mods[tuple(rel)] = p

def strip(src):
    src = re.sub(r'/\*.*?\*/', '', src, flags=re.S)
    src = re.sub(r'//[^\n]*', '', src)
    src = re.sub(r'"(?:\\.|[^"\\])*"', '""', src)
    return src

def resolve(base, segs):
    # longest prefix of segs that is a module
    for k in range(len(segs), -1, -1):
        if tuple(segs[:k]) in mods:
            return tuple(segs[:k])
    return None

edges = {m: set() for m in mods}
for m, p in mods.items():
    src = strip(open(p).read())
    here = list(m)
    # expand `use a::{b, c::{d}}` groups into flat paths
    paths = []
    for u in re.finditer(r'\buse\s+([^;]+);', src):
        def expand(prefix, body):
            body = body.strip()
            if '{' not in body:
                for part in body.split(','):
                    part = part.strip().split(' as ')[0].strip()
                    if part:
                        paths.append(prefix + part)
                return
            # split top-level commas
            i = body.index('{')
            head = body[:i]
            inner = body[i+1:body.rindex('}')]
            depth, cur, parts = 0, '', []
            for ch in inner:
                if ch == ',' and depth == 0:
                    parts.append(cur); cur = ''
                    continue
                depth += ch == '{'
                depth -= ch == '}'
                cur += ch
            parts.append(cur)
            for part in parts:
                expand(prefix + head, part)
        expand('', u.group(1))
    for q in re.finditer(r'\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)', src):
        paths.append(q.group(1))
    for path in paths:
        segs = [s for s in path.replace(' ', '').split('::') if s]
        if not segs:
            continue
        if segs[0] == 'crate':
            abs_ = segs[1:]
        elif segs[0] in ('super', 'self'):
            # a file module's self is itself; super is its parent
            cur = list(here)
            while segs and segs[0] in ('super', 'self'):
                if segs[0] == 'super':
                    cur = cur[:-1]
                segs = segs[1:]
            abs_ = cur + segs
        else:
            continue
        t = resolve(m, abs_)
        if t is not None and t != m:
            edges[m].add(t)

def related(a, b):
    return a[:len(b)] == b or b[:len(a)] == a

def sccs(g):
    index, low, st, on, out, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(comp)
    for v in g:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]

name = lambda m: '::'.join(m) or 'crate'
sib = {m: {t for t in ts if not related(m, t)} for m, ts in edges.items()}
print(f'{len(mods)} modules, {sum(len(v) for v in edges.values())} edges '
      f'({sum(len(v) for v in sib.values())} between modules that do not contain each other)')
bad = sccs(sib)
for c in bad:
    print('CYCLE:', ' <-> '.join(sorted(name(x) for x in c)))
    for a in c:
        for b in sib[a]:
            if b in c:
                print(f'   {name(a)} -> {name(b)}')
if not bad:
    print('no cycle between modules that do not contain each other')
allc = sccs(edges)
print(f'cycles counting parent<->child edges too: {len(allc)}')
for c in allc:
    print('  ', ', '.join(sorted(name(x) for x in c)))
# layer arrows between top-level parts
top = {}
for m, ts in edges.items():
    for t in ts:
        if m and t and m[0] != t[0]:
            top.setdefault(m[0], set()).add(t[0])
print('top-level arrows:')
for k in sorted(top):
    print(f'   {k} -> {", ".join(sorted(top[k]))}')
sys.exit(1 if bad else 0)
