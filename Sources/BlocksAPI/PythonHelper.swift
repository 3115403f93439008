/// The Python side of uploaded modules, run by the system `python3 -I -c`. It recreates the
/// small `blocks` framework that module code imports (Block, BlockInput, BlockOutput,
/// BlockParameter, ParameterType), unpacks the archive into a scratch `blocks/` package, and
/// either describes the modules (`inspect`) or runs one block (`run`). Request on stdin, one
/// JSON answer on stdout.
enum PythonHelper {
    static let script = #"""
import base64, copy, io, json, os, sys, tempfile, traceback, types, zipfile

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
    json.dump({"error": message}, sys.stdout)
    sys.exit(0)

def last_line(exc):
    return traceback.format_exception_only(type(exc), exc)[-1].strip()

def unpack(archive, root):
    package = os.path.join(root, "blocks")
    os.makedirs(package)
    for name, source in FRAMEWORK.items():
        with open(os.path.join(package, name + ".py"), "w") as f:
            f.write(source)
    open(os.path.join(package, "__init__.py"), "w").close()
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            names = z.namelist()
            for member in names:
                if member.startswith("/") or ".." in member.split("/"):
                    fail("unsafe path in archive: " + member)
            z.extractall(package)
    except zipfile.BadZipFile:
        fail("File is not a zip file")
    sys.path.insert(0, root)
    return sorted({n.split("/")[0] for n in names if "/" in n and not n.startswith("__MACOSX")})

def load(module):
    import importlib
    try:
        imported = importlib.import_module("blocks." + module)
    except Exception as exc:
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

request = json.load(sys.stdin)
root = tempfile.mkdtemp()
modules = unpack(base64.b64decode(request["archive"]), root)
if request["command"] == "inspect":
    if not modules:
        fail("the archive has no top-level module folder")
    described = []
    for module in modules:
        mapping = load(module)
        described.append({"name": module, "blocks": [
            {"name": str(key), "family": getattr(block, "family", ""), "description": getattr(block, "description", ""),
             "fields": fields(block)} for key, block in mapping.items()]})
    json.dump({"modules": described}, sys.stdout)
else:
    mapping = load(request["module"])
    work = tempfile.mkdtemp()
    os.chdir(work)
    try:
        block = copy.deepcopy(mapping[request["type"]])
        block.input_params(request["data"])
        block.execute()
    except Exception as exc:
        fail(last_line(exc))
    from blocks.BlockOutput import BlockOutput
    outputs = [[v.name, plain(v.value)] for v in vars(block).values() if isinstance(v, BlockOutput)]
    produced = []
    for name in sorted(os.listdir(work)):
        path = os.path.join(work, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                produced.append({"name": name, "content": base64.b64encode(f.read()).decode()})
    json.dump({"outputs": outputs, "files": produced}, sys.stdout)
"""#
}
