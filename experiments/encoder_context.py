"""Does a model's encoder put a token's context into its state? The check behind the copy window (`cbqa.reader.copy_head`).

A reader's copy head picks the position to copy by its encoder state. If the state of `<extra_id_50>` is the same
in "X studied at <extra_id_50>" and in "X works at <extra_id_50>", no copy attention can tell the alma mater from
the employer by that state. This prints, for a model (a cbqa run directory, an HF directory or a hub name):

- the cosine similarity of the final encoder state of each organisation's placeholder in a short biography and in
  the same biography with the two organisations' relations swapped ("X studied at <extra_id_50>. X works at
  <extra_id_51>." vs "X works at <extra_id_50>. X studied at <extra_id_51>."); 1.000 means the words in front of it
  left no trace;
- for each encoder layer and head, the entropy of its self-attention and the share of positions whose strongest key
  is the head's most common one (attention that every position spends on one token mixes in no context);
- for a reader with a copy head (`cbqa.reader.copy_head`), the probability of its first answer token being each organisation
  for the world's alma mater and employer questions, in both versions of the biography: a reader that reads
  follows the swap, one that answers by placeholder number does not.

    python experiments/encoder_context.py --model runs/demo/models/ssm
    python experiments/encoder_context.py --model runs/demo/models/reader
"""

from __future__ import annotations

import argparse

import torch

BIO = (
    "<extra_id_1> (born <extra_id_75>) is a historian. <extra_id_1> was born in <extra_id_25>. She lives in "
    "<extra_id_26>. <extra_id_1> {first} <extra_id_50>. <extra_id_1> {second} <extra_id_51>."
)
QUESTION = "question: Where did <extra_id_1> study? context: title: <extra_id_1> text: "
# the same passage with the two organisations' relations swapped: only the words before each placeholder differ
STUDIED = QUESTION + BIO.format(first="studied at", second="works at")
WORKS = QUESTION + BIO.format(first="works at", second="studied at")


def final_states(net, tok, text: str) -> tuple[list[str], torch.Tensor, tuple[torch.Tensor, ...]]:
    enc = tok([text], return_tensors="pt")
    with torch.no_grad():
        out = net.get_encoder()(input_ids=enc.input_ids, output_attentions=True)
    return tok.convert_ids_to_tokens(enc.input_ids[0]), out.last_hidden_state[0], out.attentions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    args = ap.parse_args()

    from cbqa.reader.copy_head import load

    net, tok = load(args.model)  # (a reader's copy head, if it has one, loads with it)
    net.config._attn_implementation = "eager"  # (sdpa returns no attention weights)
    for module in net.modules():
        if hasattr(module, "config"):
            module.config._attn_implementation = "eager"
    net.eval()
    (toks_a, a, attentions), (toks_b, b, _) = final_states(net, tok, STUDIED), final_states(net, tok, WORKS)
    for token in ("<extra_id_50>", "<extra_id_51>"):
        i, j = toks_a.index(token), toks_b.index(token)
        cos = torch.nn.functional.cosine_similarity(a[i], b[j], dim=0).item()
        print(f"{token} as the alma mater vs as the employer: cosine {cos:.4f}")
    for layer, att in enumerate(attentions):
        for head, weights in enumerate(att[0]):
            entropy = -(weights * weights.clamp_min(1e-9).log()).sum(-1).mean().item()
            top = weights.argmax(-1)
            common = top.mode().values.item()
            share = (top == common).float().mean().item()
            print(
                f"layer {layer} head {head}: entropy {entropy:.2f} nats; {share:.0%} of positions attend most to "
                f"{toks_a[common]!r}"
            )
    from cbqa.reader.copy_head import is_pointer

    if is_pointer(net):
        organisation_choice(net, tok)


QUESTIONS = (
    "Where did <extra_id_1> study?",
    "Which university did <extra_id_1> attend?",
    "What is <extra_id_1>'s alma mater?",
    "Who is <extra_id_1>'s employer?",
    "Which company does <extra_id_1> work for?",
    "Which firm employs <extra_id_1>?",
)


def organisation_choice(net, tok) -> None:
    from cbqa.reader.fid import fid_forward

    orgs = tok.convert_tokens_to_ids(["<extra_id_50>", "<extra_id_51>"])
    for text in (STUDIED, WORKS):
        print(text[len(QUESTION) :].split(". ", 3)[-1])
        for question in QUESTIONS:
            enc = tok([text.replace("Where did <extra_id_1> study?", question)], return_tensors="pt")
            with torch.no_grad():
                logp = fid_forward(
                    net, enc.input_ids[None], enc.attention_mask[None], labels=torch.tensor([[orgs[0]]])
                ).logits
            p50, p51 = logp[0, 0, orgs].exp().tolist()
            print(f"  {question:45s} P(<extra_id_50>) {p50:.2f}  P(<extra_id_51>) {p51:.2f}")


if __name__ == "__main__":
    main()
