import collections
import zipfile

from difftrain import checkpoints


def test_round_trip_and_layout(tmp_path):
    path = tmp_path / "checkpoint-7.pt"
    unet = collections.OrderedDict(w=checkpoints.Tensor(range(6), (2, 3)), b=checkpoints.Tensor([0.5], (1,)))
    checkpoints.save_zip({"global_step": 7, "unet": unet, "scaler": None, "precision": "fp32"}, path)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert all(n.startswith("checkpoint-7/") for n in names)
        assert {"checkpoint-7/data.pkl", "checkpoint-7/data/0", "checkpoint-7/data/1"} <= set(names)
        assert zf.read("checkpoint-7/version") == b"3\n"
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    back = checkpoints.load_zip(path)
    assert back["global_step"] == 7 and back["scaler"] is None
    assert back["unet"]["w"].shape == (2, 3) and back["unet"]["w"].values == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
