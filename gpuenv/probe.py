# Probes the Python stack for gpuenv in one process; prints one line: GPUENV_PROBE <json>.
# Runs under any Python 3; imports only torch, so a broken optional package cannot stop it.
import json
import platform
import sys

NOT_INSTALLED = "not installed"
PACKAGES = [  # (distribution, module)
    ("diffusers", "diffusers"),
    ("transformers", "transformers"),
    ("datasets", "datasets"),
    ("torchvision", "torchvision"),
    ("accelerate", "accelerate"),
    ("numpy", "numpy"),
    ("Pillow", "PIL"),
]


def version_of(dist, module):
    try:
        from importlib import metadata
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    except ImportError:  # Python < 3.8
        pass
    try:
        mod = __import__(module)
    except ImportError:
        return NOT_INSTALLED
    except Exception as e:
        return "broken: %s: %s" % (type(e).__name__, e)
    return str(getattr(mod, "__version__", "unknown"))


def probe_torch():
    t = {"version": NOT_INSTALLED, "cuda_available": False, "bf16_supported": False}
    try:
        import torch
    except ImportError as e:
        if getattr(e, "name", None) != "torch":
            t["version"] = version_of("torch", "torch")
            t["error"] = "import torch: %s: %s" % (type(e).__name__, e)
        return t
    except Exception as e:
        t["version"] = version_of("torch", "torch")
        t["error"] = "import torch: %s: %s" % (type(e).__name__, e)
        return t
    t["version"] = str(torch.__version__)
    t["cuda"] = torch.version.cuda or ""
    try:
        v = torch.backends.cudnn.version()
        t["cudnn"] = str(v) if v else ""
    except Exception:
        pass
    try:
        t["cuda_available"] = bool(torch.cuda.is_available())
        if t["cuda_available"]:
            t["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            t["bf16_supported"] = bool(torch.cuda.is_bf16_supported())
    except Exception as e:
        t["error"] = "query CUDA: %s: %s" % (type(e).__name__, e)
    return t


out = {
    "executable": sys.executable,
    "version": platform.python_version(),
    "torch": probe_torch(),
    "packages": dict((dist, version_of(dist, module)) for dist, module in PACKAGES),
}
sys.stdout.write("GPUENV_PROBE " + json.dumps(out) + "\n")
sys.stdout.flush()
