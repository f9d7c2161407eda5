"""The benchmark's Flask app: a JSON endpoint and a small Jinja template page.

    /json   {"message": "Hello, World!", ...} via flask.jsonify
    /page   templates/page.html rendered with 10 rows
"""

import os

from flask import Flask, jsonify, render_template

app = Flask(__name__, template_folder=os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"))

ROWS = [{"id": i, "name": "item %d" % i, "price": "%d.%02d" % (i * 3, i * 7 % 100)} for i in range(1, 11)]


@app.route("/json")
def json_view():
    return jsonify(message="Hello, World!", server="bench", items=[1, 2, 3])


@app.route("/page")
def page_view():
    return render_template("page.html", title="Flask page", rows=ROWS)
