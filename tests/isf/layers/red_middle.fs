/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Layer test transition: pure red (times level) from progress 0.2 to 0.8",
    "CATEGORIES": ["Test", "Transition"],
    "INPUTS": [
        {"NAME": "startImage", "TYPE": "image"},
        {"NAME": "endImage", "TYPE": "image"},
        {"NAME": "progress", "TYPE": "float"},
        {"NAME": "level", "TYPE": "float", "DEFAULT": 1.0, "MIN": 0.0, "MAX": 1.0}
    ]
}*/

void main() {
    if (progress > 0.2 && progress < 0.8) {
        gl_FragColor = vec4(level, 0.0, 0.0, 1.0);
    } else {
        gl_FragColor = mix(IMG_THIS_PIXEL(startImage), IMG_THIS_PIXEL(endImage), progress);
    }
}
