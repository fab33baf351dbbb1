"""The Python side of tests/interop.rs: runs the real transformers / PEFT / gguf.

usage: hf.py MODE REQUEST.json RESPONSE.json
REQUEST: {"model": dir, "adapter": dir or null, "ids": [[int]], "texts": [str], "gguf": path}
MODE full        transformers loads `model`; logits for each id list, and ids of `texts`
     peft        PEFT loads `adapter` over `model`; logits
     peft-write  PEFT makes a random LoRA over `model`, saves it to `adapter`; logits
     gguf        the gguf package reads `gguf`: metadata and tensor list
"""
import json
import sys


def logits(model, ids):
    import torch

    with torch.no_grad():
        return [model(torch.tensor([row])).logits[0].flatten().tolist() for row in ids]


def base(req):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(req["model"], dtype=torch.float32).eval()


def main():
    mode, req_path, out_path = sys.argv[1:4]
    req = json.load(open(req_path))
    out = {}
    if mode == "full":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(req["model"])
        out["ids"] = [tok(t, add_special_tokens=False)["input_ids"] for t in req["texts"]]
        out["logits"] = logits(base(req), req["ids"])
    elif mode == "peft":
        from peft import PeftModel

        model = PeftModel.from_pretrained(base(req), req["adapter"]).eval()
        out["logits"] = logits(model, req["ids"])
    elif mode == "peft-write":
        import torch
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(7)
        cfg = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=["q_proj", "v_proj", "down_proj"],
            lora_dropout=0.0,
            init_lora_weights=False,  # random B too, so the adapter changes the logits
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base(req), cfg).eval()
        model.save_pretrained(req["adapter"])
        out["logits"] = logits(model, req["ids"])
    elif mode == "gguf":
        from gguf import GGUFReader

        reader = GGUFReader(req["gguf"])
        meta = {}
        for key, field in reader.fields.items():
            value = field.contents()
            meta[key] = value if not isinstance(value, list) else {"len": len(value)}
        out["metadata"] = meta
        out["tensors"] = [
            {"name": t.name, "type": t.tensor_type.name, "shape": [int(d) for d in t.shape]}
            for t in reader.tensors
        ]
    else:
        sys.exit(f"unknown mode {mode}")
    json.dump(out, open(out_path, "w"))


main()
