"""The open-book reader: a T5 that answers a question from the passages `retrieval_baseline` retrieved.

It sits in cbqa/, above training, because it is built from cbqa's model and training layers (its Lightning module
and data module extend the generic ones) and reads `retrieval_baseline`'s hits; `retrieval_baseline` itself imports
only the core, so nothing below this package imports it and every import stays one-way.

    inputs.py             the reader's input text (one string, or one per passage for FiD) and its record
                          (`reader_input.json`): how a run reads, so prediction builds the inputs it was trained on
    fid.py                Fusion-in-Decoder (Izacard & Grave 2021) on an unchanged Hugging Face T5
    copy_head.py          a pointer-generator copy head over the encoder's tokens (See et al. 2017)
    anonymise.py          entities as per-example placeholders (Hermann et al. 2015), mapped back in the answer
    tasks.py              its training tasks: questions over their passages (`reader`), clozes (`reading`)
    reading_examples.py   the `reading` task's file: spans-store sentences with their retrieved passages
    answering.py          a trained reader answering retrieved questions (`cbqa reader predict`)
    floor.py              the extractive floor: an entity of the right type from the passages, no training
    copying.py            whether a right answer was copied from the passages read
    counterfactual.py     the entity-swap check: does the reader follow the passages?
"""
