import sys

from stream_classifier.cli import main

sys.exit(main())
