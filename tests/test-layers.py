#!/usr/bin/env python3
"""The folders are layers, and each imports only from the layers below it.

    model/      the engine and the worker (GLib only); defines the GPU
                plugin's interface (model/as-gpu-plugin.h)
    gpu/        the CUDA plugin: implements that interface, so it may
                include model/ (and nothing else of ours)
    ui/render/  Cairo/Pango drawing shared by widgets, export and the CLI:
                model/ only
    ui/         the GTK widgets: ui/render/ and model/
    app/        entry points (GtkApplication, CLI commands): anything below

Every #include "..." in a .c/.h/.cu/.cpp file under those folders is
resolved to the file it names (first next to the including file, as the
preprocessor does, then in any of the folders, which is where meson's
include directories point), and an include of a file in a folder its layer
may not use is reported as file:line. Also reported: including another
folder's .c, .cu or .cpp; a GTK header in model/, gpu/ or ui/render/ (or
Cairo/Pango in model/ or gpu/); a meson.build that names a source file of
another top-level folder through '../', or uses a files() list made in
another folder's meson.build. Each folder builds its own files into a
library and the layers above link it.

A header that resolves nowhere (as-build-config.h and the GResource header
are generated in the build directory; <...> headers are not looked at) is
outside the layers and ignored.

Usage: test-layers.py [SOURCE_ROOT]   (default: the folder above this file)
Speaks TAP so meson reports each rule.
"""

import os
import re
import sys

LAYERS = ["model", "gpu", "ui/render", "ui", "app"]

# Which folders a file in each layer may include from (its own included).
ALLOWED = {
    "model": {"model"},
    "gpu": {"gpu", "model"},
    "ui/render": {"ui/render", "model"},
    "ui": {"ui", "ui/render", "model"},
    "app": {"app", "ui", "ui/render", "model"},
}

# Toolkit headers a layer must not use: the engine and the plugin are GLib
# only, and ui/render/ draws with Cairo and Pango but never GTK.
GTK = ("gtk/", "gdk/", "adwaita.h")
FORBIDDEN = {
    "model": GTK + ("cairo", "pango/"),
    "gpu": GTK + ("cairo", "pango/"),
    "ui/render": GTK,
}

SOURCE_EXTS = (".c", ".h", ".cu", ".cpp")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SYSTEM_RE = re.compile(r'^\s*#\s*include\s+<([^>]+)>')
MESON_PATH_RE = re.compile(r"'([^']*\.\./[^']*)'")


def layer_of(rel):
    """The layer of a path relative to the source root, or None."""
    rel = rel.replace(os.sep, "/")
    if rel.startswith("ui/render/"):
        return "ui/render"
    top = rel.split("/", 1)[0]
    return top if top in ALLOWED else None


def top_of(rel):
    return rel.replace(os.sep, "/").split("/", 1)[0]


def walk(root):
    """Every (relative path) under the layer folders."""
    for top in ("model", "gpu", "ui", "app"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                yield os.path.relpath(os.path.join(dirpath, name), root)


def resolve(root, including, name, dirs):
    """The relative path of the file that `#include "NAME"` in INCLUDING
    reaches, or None. Next to the including file first, then the folders."""
    here = os.path.normpath(os.path.join(os.path.dirname(including), name))
    if os.path.isfile(os.path.join(root, here)):
        return here
    found = [os.path.normpath(os.path.join(d, name)) for d in dirs
             if os.path.isfile(os.path.join(root, d, name))]
    if not found:
        return None
    # The same name in several folders: the lowest layer that the includer
    # may use, so an ambiguous name is never blamed on the wrong folder;
    # if none is allowed, the first found.
    allowed = ALLOWED[layer_of(including)]
    for f in found:
        if layer_of(f) in allowed:
            return f
    return found[0]


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                           else os.path.join(os.path.dirname(__file__), ".."))
    files = list(walk(root))
    dirs = sorted({os.path.dirname(f) for f in files})

    include_errors = []
    source_errors = []
    toolkit_errors = []
    graph = {}
    for rel in files:
        if not rel.endswith(SOURCE_EXTS):
            continue
        layer = layer_of(rel)
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fp:
            for lineno, line in enumerate(fp, 1):
                m = SYSTEM_RE.match(line)
                if m and m.group(1).startswith(FORBIDDEN.get(layer, ())):
                    toolkit_errors.append("%s:%d: includes <%s> (not in %s/)"
                                          % (rel, lineno, m.group(1), layer))
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                target = resolve(root, rel, m.group(1), dirs)
                if target is None:
                    continue
                to = layer_of(target)
                graph[(layer, to)] = graph.get((layer, to), 0) + 1
                if to not in ALLOWED[layer]:
                    include_errors.append(
                        "%s:%d: includes %s (%s/ may not include %s/)"
                        % (rel, lineno, target, layer, to))
                elif (not target.endswith((".h", ".hpp"))
                      and top_of(target) != top_of(rel)):
                    source_errors.append(
                        "%s:%d: includes another folder's source file %s"
                        % (rel, lineno, target))

    meson_errors = []
    for rel in files:
        if os.path.basename(rel) != "meson.build":
            continue
        with open(os.path.join(root, rel), encoding="utf-8") as fp:
            for lineno, line in enumerate(fp, 1):
                code = line.split("#", 1)[0]
                for m in MESON_PATH_RE.finditer(code):
                    path = m.group(1)
                    if not path.endswith(SOURCE_EXTS):
                        continue
                    target = os.path.normpath(os.path.join(os.path.dirname(rel), path))
                    if top_of(target) != top_of(rel):
                        meson_errors.append(
                            "%s:%d: names %s, a source file of %s/ (link its library)"
                            % (rel, lineno, path, top_of(target)))

    # A list of sources made with files() in one folder and built by a
    # target in another (how the GUI library once compiled ui/ in app/).
    defined = {}
    for rel in files:
        if os.path.basename(rel) != "meson.build":
            continue
        with open(os.path.join(root, rel), encoding="utf-8") as fp:
            for m in re.finditer(r"^\s*(\w+)\s*=\s*files\s*\(", fp.read(), re.M):
                defined[m.group(1)] = rel
    for rel in files:
        if os.path.basename(rel) != "meson.build":
            continue
        with open(os.path.join(root, rel), encoding="utf-8") as fp:
            for lineno, line in enumerate(fp, 1):
                code = line.split("#", 1)[0]
                for name, where in defined.items():
                    if (top_of(where) != top_of(rel)
                            and re.search(r"\b%s\b" % re.escape(name), code)):
                        meson_errors.append(
                            "%s:%d: builds %s, the sources listed in %s (link its library)"
                            % (rel, lineno, name, where))

    checks = [
        ("no file includes a header from a layer above it", include_errors),
        ("no file includes another folder's source file", source_errors),
        ("no meson.build builds another folder's source file", meson_errors),
        ("model/ and gpu/ use no Cairo, Pango or GTK; ui/render/ no GTK",
         toolkit_errors),
    ]
    print("1..%d" % len(checks))
    print("# include graph between folders (from -> to: #include lines):")
    for (src, dst), count in sorted(graph.items()):
        print("#   %-9s -> %-9s %4d" % (src, dst, count))
    failed = False
    for i, (what, errors) in enumerate(checks, 1):
        for e in errors:
            print("# " + e)
        print("%s %d - %s" % ("not ok" if errors else "ok", i, what))
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
