"""Every Hugging Face Hub id the course names, in one place: checkpoints, datasets and the GloVe repository.

The rest of the package, the chapters and :mod:`course_lib.rehearsal` (which builds an offline cache under exactly
these ids) read them from here; ``tests/test_architecture.py`` fails when an ``owner/name`` id is typed anywhere
else. Ids are the canonical ``owner/name`` forms (the hub only redirects the short legacy ones,
:data:`course_lib.hub.LEGACY_IDS`). This module imports nothing, so even :mod:`course_lib.env` may read it.
"""

# checkpoints (what each stands for offline: course_lib.hub.OFFLINE_MODELS)
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SST2 = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
BERT_CASED = "google-bert/bert-base-cased"
BERT_UNCASED = "google-bert/bert-base-uncased"
GPT2 = "openai-community/gpt2"
T5_SMALL = "google-t5/t5-small"
OPT_350M = "facebook/opt-350m"
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct"
LANGUAGE_ID = "papluca/xlm-roberta-base-language-detection"
MODELS = (MINILM, SST2, BERT_CASED, BERT_UNCASED, GPT2, T5_SMALL, OPT_350M, SMOLLM2, LANGUAGE_ID)

# datasets (their offline counterparts: course_lib.data.loaders.DATASETS, corpora, images)
IMDB = "stanfordnlp/imdb"
ROTTEN_TOMATOES = "cornell-movie-review-data/rotten_tomatoes"
AG_NEWS = "fancyzhx/ag_news"
YELP = "Yelp/yelp_review_full"
WIKITEXT = "Salesforce/wikitext"
GUANACO = "timdettmers/openassistant-guanaco"
MNIST = "ylecun/mnist"
EMNIST_LETTERS = "tanganke/emnist_letters"
DATASETS = (IMDB, ROTTEN_TOMATOES, AG_NEWS, YELP, WIKITEXT, GUANACO, MNIST, EMNIST_LETTERS)

# a model repository holding Stanford's glove.6B.zip (course_lib.data.vectors)
GLOVE = "stanfordnlp/glove"

#: any small public repository: its API answer proves the real hub was reached (course_lib.env.hub_status)
PROBE_MODEL = GPT2
