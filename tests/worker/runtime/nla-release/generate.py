"""Writes the nla_meta.yaml fixtures in the shapes the NLA release writes them.

Source: github.com/kitft/natural_language_autoencoders at 047eb8e40452982d38f83721f9fb2c77baf6b0cf.
The layouts below are restated from these lines (the dict layout and the PyYAML calls are facts
of the format; no code is copied):
  - nla/config.py:251-296  write_model_sidecar: the training shape (role actor|critic, templates
    actor/critic, critic.extraction_layer_index written only when the AR depth is known, PyYAML
    safe_dump with sort_keys=False);
  - nla/config.py:186-190  schema 1 wrote critic.num_hidden_layers instead;
  - nla/train_actor.py:874-894  role/stage/training values, and the AR depth K = blocks - 1;
  - release/hf_stage_and_scrub.py:46-63  the published shape: role renamed actor->av,
    critic->ar, templates renamed, top-level extraction_layer_index appended, rollout_id dropped,
    written with yaml.dump(sort_keys=False);
  - docs/inference.md:60-82 and 372-387  the documented AV and AR sidecars (ar.num_hidden_layers).
The Qwen2.5-7B values are those docs/inference.md gives; the tiny ones fit the test tokenizer in
tests/worker/runtime/fixtures.ts (byte-level, id = byte value, specials 256-259).

Run from the repository root with PyYAML installed: python3 tests/worker/runtime/nla-release/generate.py
"""
import math
import os

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = "kitft/natural_language_autoencoders@047eb8e40452982d38f83721f9fb2c77baf6b0cf"

QWEN_AV_TEMPLATE = (
    "You are a meticulous AI researcher conducting an important investigation into activation "
    "vectors from a language model. Your overall task is to describe the semantic content of "
    "that activation vector.\n\nWe will pass the vector enclosed in <concept> tags into your "
    "context. You must then produce an explanation for the vector, enclosed within <explanation> "
    "tags. The explanation consists of 2-3 text snippets describing that vector.\n\nHere is the "
    "vector:\n\n<concept>{injection_char}</concept>\n\nPlease provide an explanation."
)
AR_TEMPLATE = "Summary of the following text: <text>{explanation}</text> <summary>"

MODELS = {
    "qwen2.5-7b-L20": dict(
        d_model=3584, layer=20, injection_scale=150.0, injection_char="\u320e",
        injection_token_id=149705, left=29, right=522, critic_suffix_ids=[1318, 29, 366, 1708, 29],
        av_template=QWEN_AV_TEMPLATE, base="Qwen/Qwen2.5-7B-Instruct",
    ),
    # The test tokenizer maps each byte to its own id, so the stable tail is the suffix's bytes
    # after the first (the first merges with the explanation's last character in real BPE).
    "tiny-L2": dict(
        d_model=8, layer=2, injection_scale=3.0, injection_char="\u320e", injection_token_id=259,
        left=60, right=62, critic_suffix_ids=list("</text> <summary>".encode())[1:],
        av_template="act <{injection_char}> says <explanation>", base="confab/tiny",
    ),
}

CREATED_AT = "2026-05-01T12:00:00+00:00"


def training_sidecar(m, role, schema_version=2):
    """The dict write_model_sidecar builds, for an AV (actor) or an AR (critic)."""
    critic = role == "critic"
    meta = {
        "kind": "nla_model",
        "schema_version": schema_version,
        "role": role,
        "stage": "rl" if not critic else "sl",
        "base_checkpoint": "/mnt/checkpoints/" + m["base"],
        "d_model": m["d_model"],
        "extraction": {
            # An AR does not inject: its injection_scale is null.
            "injection_scale": None if critic else m["injection_scale"],
            "mse_scale": math.sqrt(m["d_model"]),
        },
        "tokens": {
            "injection_char": m["injection_char"],
            "injection_token_id": m["injection_token_id"],
            "injection_left_neighbor_id": m["left"],
            "injection_right_neighbor_id": m["right"],
            # Computed only when an AR template was given (the AR's dataset stage).
            "critic_suffix_ids": m["critic_suffix_ids"] if critic else None,
        },
        "prompt_templates": {
            "actor": m["av_template"],
            "critic": AR_TEMPLATE if critic else None,
        },
        "trained_on": ["gs://bucket/datasets/train.parquet"],
        "parent_checkpoints": ["/mnt/checkpoints/" + m["base"]],
        "created_at": CREATED_AT,
        "created_by": "nla.train_actor.NLAFSDPActor",
    }
    if critic:
        key = "extraction_layer_index" if schema_version >= 2 else "num_hidden_layers"
        meta["critic"] = {key: m["layer"]}
    meta["training"] = {"rollout_id": 42, "lr": 1e-06, "loss_type": "policy_loss" if not critic else "sft_loss", "global_batch_size": 256}
    return meta


def published_sidecar(m, role):
    """The training sidecar after the release's upload step renamed and scrubbed it."""
    d = training_sidecar(m, role)
    d["role"] = {"actor": "av", "critic": "ar"}[role]
    d["base_checkpoint"] = m["base"]
    d["parent_checkpoints"] = [m["base"]]
    d["trained_on"] = ["fineweb"]
    d["training"].pop("rollout_id", None)
    d["extraction_layer_index"] = m["layer"]
    pt = d["prompt_templates"]
    pt["av"] = pt.pop("actor")
    pt["ar"] = pt.pop("critic")
    return d


def documented_ar_sidecar(m):
    """The AR sidecar as docs/inference.md shows it: the fields that matter for the round trip."""
    return {
        "kind": "nla_model",
        "role": "ar",
        "d_model": m["d_model"],
        "extraction": {"mse_scale": round(math.sqrt(m["d_model"]), 2)},
        "ar": {"num_hidden_layers": m["layer"]},
        "tokens": {"critic_suffix_ids": m["critic_suffix_ids"]},
        "prompt_templates": {"ar": AR_TEMPLATE},
    }


def write(rel, text, how):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    header = f"# Generated by generate.py from {SOURCE}: {how}\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + text)


def main():
    for name, m in MODELS.items():
        for role, folder in (("actor", "av"), ("critic", "ar")):
            write(f"{name}/training/{folder}/nla_meta.yaml",
                  yaml.safe_dump(training_sidecar(m, role), sort_keys=False),
                  "write_model_sidecar, nla/config.py:251-296")
            write(f"{name}/published/{folder}/nla_meta.yaml",
                  yaml.dump(published_sidecar(m, role), sort_keys=False),
                  "write_model_sidecar then release/hf_stage_and_scrub.py:46-63")
        write(f"{name}/schema1/ar/nla_meta.yaml",
              yaml.safe_dump(training_sidecar(m, "critic", schema_version=1), sort_keys=False),
              "write_model_sidecar with the schema-1 AR depth key, nla/config.py:186-190")
        write(f"{name}/documented/ar/nla_meta.yaml",
              yaml.safe_dump(documented_ar_sidecar(m), sort_keys=False),
              "the AR sidecar of docs/inference.md:372-387")


if __name__ == "__main__":
    main()
