/// The Python side of uploaded modules, run by the system `python3` inside the sandbox. It checks
/// the archive (paths, member types, entry count and sizes counted while inflating) before it
/// writes anything, recreates the small `blocks` framework that module code imports (Block,
/// BlockInput, BlockOutput, BlockParameter, ParameterType), unpacks the archive into the
/// sandbox's tmpfs, and either describes the modules (`inspect`) or runs one block (`run`).
/// Request on stdin, one JSON answer on stdout.
enum PythonHelper {
    static let script = #"""
        import base64, copy, io, json, os, stat, sys, traceback, zipfile, zlib

        # The answer goes to the real stdout; whatever module code prints goes to stderr.
        ANSWER, sys.stdout = sys.stdout, sys.stderr
        # Inside the sandbox: the modules in one folder, the files a block writes in another.
        LIBRARY, OUTPUT = "/work/lib", "/work/out"

        FRAMEWORK = {
            "ParameterType": "class ParameterType:\n" + "".join(
                f"    {n} = {n!r}\n" for n in ["NUMBER", "STRING", "FILE", "FILE_LOCATION", "BOOLEAN", "OBJECT",
                                               "EEGData", "EPOCHS", "FeatureVector", "Model"]) +
                "    NUMBER_ARRAY = 'NUMBER[]'\n    STRING_ARRAY = 'STRING[]'\n    FILE_ARRAY = 'FILE[]'\n",
            "BlockInput": "class BlockInput:\n"
                "    def __init__(self, name, min_cardinality=1, max_cardinality=1, attribute_type='NUMBER'):\n"
                "        self.name, self.min_cardinality, self.max_cardinality = name, min_cardinality, max_cardinality\n"
                "        self.attribute_type, self.value = attribute_type, None\n"
                "    def set_value(self, value): self.value = value\n",
            "BlockOutput": "class BlockOutput:\n"
                "    def __init__(self, name, attribute_type='NUMBER', min_cardinality=1, max_cardinality=1):\n"
                "        self.name, self.min_cardinality, self.max_cardinality = name, min_cardinality, max_cardinality\n"
                "        self.attribute_type, self.value = attribute_type, None\n"
                "    def set_value(self, value): self.value = value\n",
            "BlockParameter": "class BlockParameter:\n"
                "    def __init__(self, name, attribute_type='NUMBER', defaultvalue=None, description=''):\n"
                "        self.name, self.attribute_type, self.defaultvalue = name, attribute_type, defaultvalue\n"
                "        self.description, self.value = description, defaultvalue\n"
                "    def set_value(self, value): self.value = value\n",
            "Block": "class Block:\n    family = ''\n    name = ''\n    description = ''\n",
        }

        def fail(message):
            json.dump({"error": message}, ANSWER)
            sys.exit(0)

        def last_line(exc):
            return traceback.format_exception_only(type(exc), exc)[-1].strip()

        def mebibytes(n):
            return f"{n / (1 << 20):g} MiB"

        def checked_members(archive, limits):
            """Every member of the archive as (path, bytes), or a refusal. Sizes are counted while
            inflating, not taken from the headers; nothing is written before the whole archive passed."""
            try:
                z = zipfile.ZipFile(io.BytesIO(archive))
                infos = z.infolist()
            except (zipfile.BadZipFile, ValueError, EOFError):
                fail("File is not a zip file")
            if len(infos) > limits["entries"]:
                fail(f"the archive has more than {limits['entries']} entries")
            members, total = [], 0
            for info in infos:
                name = info.filename
                parts = name.split("/")
                if name.startswith("/") or "\\" in name or "\0" in name or ":" in parts[0] or ".." in parts:
                    fail("unsafe path in archive: " + name)
                kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
                if kind == stat.S_IFLNK:
                    fail("symbolic link in archive: " + name)
                if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                    fail("special file in archive: " + name)
                if info.flag_bits & 0x1:
                    fail("encrypted member in archive: " + name)
                if info.is_dir():
                    continue
                content = bytearray()
                try:
                    with z.open(info) as member:
                        while chunk := member.read(65536):
                            content += chunk
                            if len(content) > limits["file_bytes"]:
                                fail(f"{name} is larger than {mebibytes(limits['file_bytes'])} uncompressed")
                            if total + len(content) > limits["total_bytes"]:
                                fail(f"the archive is larger than {mebibytes(limits['total_bytes'])} uncompressed")
                except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, zlib.error) as exc:
                    fail(f"cannot read {name} from the archive: {last_line(exc)}")
                total += len(content)
                members.append((name, bytes(content)))
            return members

        def unpack(archive, limits):
            members = checked_members(archive, limits)
            package = os.path.join(LIBRARY, "blocks")
            os.makedirs(package)
            for name, source in FRAMEWORK.items():
                with open(os.path.join(package, name + ".py"), "w") as f:
                    f.write(source)
            open(os.path.join(package, "__init__.py"), "w").close()
            for name, content in members:
                path = os.path.join(package, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(content)
            sys.path.insert(0, LIBRARY)
            names = [name for name, _ in members]
            return sorted({n.split("/")[0] for n in names if "/" in n and not n.startswith("__MACOSX")})

        def load(module):
            import importlib
            try:
                imported = importlib.import_module("blocks." + module)
            except BaseException as exc:
                fail(f"cannot import module {module}: {last_line(exc)}")
            mapping = getattr(imported, "string_classobject_mapping", None)
            if not isinstance(mapping, dict):
                fail(f"module {module} has no string_classobject_mapping in its __init__.py")
            return mapping

        def fields(block):
            from blocks.BlockInput import BlockInput
            from blocks.BlockOutput import BlockOutput
            from blocks.BlockParameter import BlockParameter
            out = []
            for value in vars(block).values():
                card = f"{getattr(value, 'min_cardinality', 1)}-{getattr(value, 'max_cardinality', 1)}"
                if isinstance(value, BlockInput):
                    out.append({"name": value.name, "type": value.attribute_type, "card": card, "attrs": "input"})
                elif isinstance(value, BlockOutput):
                    out.append({"name": value.name, "type": value.attribute_type, "card": card, "attrs": "output"})
                elif isinstance(value, BlockParameter):
                    out.append({"name": value.name, "type": value.attribute_type, "defaultValue": str(value.defaultvalue),
                                "description": value.description or "", "attrs": "editable"})
            return out

        def plain(value):
            if value is None or isinstance(value, (bool, int, float, str)):
                return value
            return str(value)

        def produced_files(limit):
            """The regular files the block left in its output folder, within the output limit (base64
            makes them a third larger on the way out)."""
            produced, total = [], 0
            for name in sorted(os.listdir(OUTPUT)):
                path = os.path.join(OUTPUT, name)
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode):
                    continue
                total += info.st_size
                if total * 4 // 3 > limit:
                    fail(f"OSError: the block's files exceed {mebibytes(limit * 3 // 4)}")
                with open(path, "rb") as f:
                    produced.append({"name": name, "content": base64.b64encode(f.read()).decode()})
            return produced

        request = json.load(sys.stdin)
        modules = unpack(base64.b64decode(request["archive"]), request["limits"])
        if request["command"] == "inspect":
            if not modules:
                fail("the archive has no top-level module folder")
            described = []
            for module in modules:
                mapping = load(module)
                described.append({"name": module, "blocks": [
                    {"name": str(key), "family": getattr(block, "family", ""), "description": getattr(block, "description", ""),
                     "fields": fields(block)} for key, block in mapping.items()]})
            json.dump({"modules": described}, ANSWER)
        else:
            mapping = load(request["module"])
            os.makedirs(OUTPUT)
            os.chdir(OUTPUT)
            try:
                block = copy.deepcopy(mapping[request["type"]])
                block.input_params(request["data"])
                block.execute()
            except BaseException as exc:
                fail(last_line(exc))
            from blocks.BlockOutput import BlockOutput
            outputs = [[v.name, plain(v.value)] for v in vars(block).values() if isinstance(v, BlockOutput)]
            json.dump({"outputs": outputs, "files": produced_files(request["limits"]["output_bytes"])}, ANSWER)
        """#
}
